"""The dora runner never lets sampling go back in time.

dora can hand a node an older message after a newer one while its direct links form
at start-up. The runner numbers each output's messages (the number's high bits name
the producing process), so a late message is not delivered (the gap it left counts
it once), and a restarted producer, counting from zero again, is still accepted.
Messages from two senders can also arrive out of their timestamps' order: triggered
runs never sample at a time before the previous one, so a flow never gets back an
older value of an input it already saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dora")
pytest.importorskip("pyarrow")

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.ir.execution import build_execution
from retriever.rt.backends.dora.codec import SEQ_KEY
from retriever.rt.backends.dora.partition import PartitionRunner
from retriever.rt.backends.dora.status import StatusWriter


@io
class Num:
    value: int


class Count(Flow[None, Num]):
    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        self.n += 1
        return Num(value=self.n)


class Keep(Flow[Num, None]):
    def reset(self) -> None:
        self.seen: list[int] = []

    def step(self, inp: Num) -> None:
        self.seen.append(inp.value)


def _runners(tmp_path: Path) -> tuple[PartitionRunner, PartitionRunner]:
    with Pipeline("order") as pipe:
        src = (Count() @ Rate(hz=10)).named("src")
        dst = (Keep() @ Trigger("value")).named("dst")
        pipe.connect(src, dst, sync=Latest())
    graph = build_execution(pipe.validate(), policy={"src": "a", "dst": "b"})
    status = StatusWriter(str(tmp_path / "status"), "test")
    return (PartitionRunner(graph, "a", 0.0, status), PartitionRunner(graph, "b", 0.0, status))


def test_a_late_message_is_counted_not_delivered_and_a_restart_is_accepted(
        tmp_path: Path) -> None:
    producer, consumer = _runners(tmp_path)
    sent: list[tuple[str, Any, dict[str, Any]]] = []
    producer.send = lambda out_id, value, meta: sent.append((out_id, value, meta))
    for k in range(4):
        producer.clock = lambda k=k: 0.1 * (k + 1)  # type: ignore[misc]
        producer.on_tick(next(iter(producer.timers)), 0.1 * (k + 1))
    assert len(sent) == 4
    (input_id,) = consumer.inputs
    order = [0, 2, 1, 3]  # dora delivered message 1 after message 2
    for i in order:
        out_id, value, meta = sent[i]
        consumer.on_input(input_id, value, meta, 0.1 * (i + 1))
    keep = consumer.runtimes["dst"]
    assert keep.flow.seen == [1, 3, 4]  # type: ignore[attr-defined]
    assert keep.dropped == 1

    restarted, _ = _runners(tmp_path)
    restarted._origin += 1 << 32  # another process: another origin
    again: list[tuple[str, Any, dict[str, Any]]] = []
    restarted.send = lambda out_id, value, meta: again.append((out_id, value, meta))
    restarted.clock = lambda: 1.0  # type: ignore[assignment]
    restarted.on_tick(next(iter(restarted.timers)), 1.0)
    assert again[0][2][SEQ_KEY] & 0xFFFFFFFF == 0  # it counts from zero again
    consumer.on_input(input_id, again[0][1], again[0][2], 1.0)
    assert keep.flow.seen == [1, 3, 4, 1]  # type: ignore[attr-defined]
    assert keep.dropped == 1


@io
class AB:
    a: int
    b: int


class KeepAB(Flow[AB, None]):
    def reset(self) -> None:
        self.seen: list[tuple[int | None, int | None]] = []

    def step(self, inp: AB) -> None:
        self.seen.append((inp.a, inp.b))


def test_a_message_older_than_the_last_triggered_run_never_hands_back_an_older_value(
        tmp_path: Path) -> None:
    with Pipeline("two") as pipe:
        src_a = (Count() @ Rate(hz=10)).named("src_a")
        src_b = (Count() @ Rate(hz=10)).named("src_b")
        join = (KeepAB() @ Trigger("a", "b")).named("join")
        pipe.connect(src_a, join, map={"value": "a"}, sync=Latest())
        pipe.connect(src_b, join, map={"value": "b"}, sync=Latest())
    graph = build_execution(pipe.validate(),
                            policy={"src_a": "pa", "src_b": "pb", "join": "pj"})
    status = StatusWriter(str(tmp_path / "status"), "test")
    sent: dict[str, list[tuple[Any, dict[str, Any], float]]] = {"pa": [], "pb": []}
    for part, times in (("pa", [0.1, 0.2]), ("pb", [0.15])):
        runner = PartitionRunner(graph, part, 0.0, status)
        runner.send = lambda _o, v, m, part=part: sent[part].append((v, m, now))
        for now in times:
            runner.clock = lambda now=now: now  # type: ignore[misc]
            runner.on_tick(next(iter(runner.timers)), now)
    consumer = PartitionRunner(graph, "pj", 0.0, status)
    by_src = {inp.src_flow: inp.input_id for inp in consumer.plan.inputs}
    # both of a's messages arrive first, then b's, which was sent between them
    for value, meta, ts in sent["pa"]:
        consumer.on_input(by_src["src_a"], value, meta, ts)
    value, meta, ts = sent["pb"][0]
    consumer.on_input(by_src["src_b"], value, meta, ts)
    seen = consumer.runtimes["join"].flow.seen  # type: ignore[attr-defined]
    assert [a for a, _ in seen] == [1, 2, 2]  # never back to 1
    assert seen[-1] == (2, 1)
