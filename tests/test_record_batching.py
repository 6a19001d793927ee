"""Steps of scalars are recorded in batches; the files stay exact and in step order."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever  # noqa: F401
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.record import RecordConfig, open_recording
from retriever.record.recorder import Recorder
from retriever.rt.facade import stepper_for

STEPS = 40


@io
class Scalars:
    f: float
    i: int
    s: str
    b: bool
    maybe: int


@io
class Mixed:
    n: int
    arr: np.ndarray
    lst: list[int]


def scalars(k: int) -> Scalars:
    """Plain values at step ``k``, with the awkward floats among them."""
    special = [math.nan, math.inf, -math.inf, -0.0][k % 4]
    return Scalars(f=special if k % 5 == 0 else k * 0.25 + 1e-12, i=k * 3 - 2**40,
                   s=f"step {k} ü", b=k % 2 == 0, maybe=k if k % 3 else None)


class Counter(Flow[None, Scalars]):
    """Publishes :func:`scalars` at each step."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Scalars:
        out = scalars(self.k)
        self.k += 1
        return out


class Echo(Flow[Scalars, Scalars]):
    """Passes its input on unchanged."""

    def step(self, r: Scalars) -> Scalars:
        return Scalars(f=r.f, i=r.i, s=r.s, b=r.b, maybe=r.maybe)


class Alternating(Flow[None, Mixed]):
    """Only a number on even steps; an array and a list it keeps changing on odd ones."""

    def reset(self) -> None:
        self.k = 0
        self.shared: list[int] = []

    def step(self, _: None) -> Mixed:
        k = self.k
        self.k += 1
        if k % 2 == 0:
            return Mixed(n=k, arr=None, lst=None)
        self.shared.append(k)  # the same list object every time: recorded as it was
        return Mixed(n=k, arr=np.full(3, k, dtype=np.int16), lst=self.shared)


def scalar_pipeline() -> Pipeline:
    pipe = Pipeline("scalars")
    src, echo = Counter() @ Rate(hz=10), Echo() @ Trigger("f", "i", "s", "b", "maybe")
    pipe.connect(src, echo, sync=Latest())
    return pipe


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                     == math.copysign(1, b))
    if isinstance(a, np.ndarray):
        return bool(isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b))
    return type(a) is type(b) and a == b


def expected(k: int, downstream: bool) -> dict[str, Any]:
    """What a port side carried at step ``k`` (downstream of Latest: the newest ``maybe``)."""
    v = scalars(k)
    out = {p: getattr(v, p) for p in ("f", "i", "s", "b", "maybe")
           if getattr(v, p) is not None}
    if downstream and "maybe" not in out:
        older = [j for j in range(k) if scalars(j).maybe is not None]
        if older:
            out["maybe"] = scalars(older[-1]).maybe
    return out


TYPES = {"f": float, "i": int, "s": str, "b": bool, "maybe": int}


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_scalar_steps_round_trip_exactly(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"s.{fmt}"
    result = scalar_pipeline().record(path, steps=STEPS, dt=0.1)
    assert result.values == sum(len(expected(k, False)) + 2 * len(expected(k, True))
                                for k in range(STEPS))
    rec = open_recording(path)
    assert not rec.truncated
    for flow, side in (("counter", "out"), ("echo", "in"), ("echo", "out")):
        msgs = rec.messages(flow, side, TYPES)
        assert [m[0] for m in msgs] == list(range(STEPS))
        assert [m[1] for m in msgs] == pytest.approx([k * 0.1 for k in range(STEPS)])
        for step, _, msg in msgs:
            exp = expected(step, flow == "echo")
            assert msg.keys() == exp.keys(), (flow, side, step)
            assert all(same(exp[p], msg[p]) for p in exp), (flow, side, step, msg)


def test_batched_mcap_is_a_valid_indexed_file(tmp_path: Path) -> None:
    from mcap.reader import make_reader

    path = tmp_path / "s.mcap"
    scalar_pipeline().record(path, steps=STEPS, dt=0.1)
    with open(path, "rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics is not None
        seqs = [m.sequence for _, _, m in reader.iter_messages(log_time_order=False)]
    stats = summary.statistics
    assert stats.message_count == len(seqs) == sum(stats.channel_message_counts.values())
    assert seqs == sorted(seqs)  # written in step order
    # log times are wall clock: the recording's start plus the step time
    origin = open_recording(path).meta["log_time_origin_ns"]
    assert abs(origin - time.time_ns()) < 600e9
    assert stats.message_start_time == origin
    assert stats.message_end_time == origin + round((STEPS - 1) * 0.1 * 1e9)


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_mixed_steps_keep_order_and_mutable_values_as_published(tmp_path: Path,
                                                                 fmt: str) -> None:
    pipe = Pipeline("mixed")
    pipe.add(Alternating() @ Rate(hz=10))
    path = tmp_path / f"m.{fmt}"
    pipe.record(RecordConfig(path=path, flush_interval=3600.0), steps=9, dt=0.1)
    msgs = open_recording(path).messages("alternating", "out",
                                         {"n": int, "arr": np.ndarray, "lst": list[int]})
    assert [m[0] for m in msgs] == list(range(9))
    for step, _, msg in msgs:
        assert msg["n"] == step
        if step % 2:
            assert same(np.full(3, step, dtype=np.int16), msg["arr"])
            assert msg["lst"] == list(range(1, step + 1, 2))  # not the final list
        else:
            assert msg.keys() == {"n"}


def test_batches_reach_the_disk_within_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "open.mcap"
    pipe = scalar_pipeline()
    stepper = stepper_for(pipe)
    recorder = Recorder(stepper.ir, RecordConfig(path=path, flush_interval=0.0))
    stepper.observers.append(recorder)
    try:
        for _ in range(5):
            stepper.step(dt=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = open_recording(path)  # still being written: a readable prefix
        assert rec.truncated
        assert [m[0] for m in rec.messages("echo", "out")] == list(range(5))
    finally:
        stepper.observers.remove(recorder)
        recorder.close()
        pipe.close_stepper()
    assert [m[0] for m in open_recording(path).messages("echo", "out")] == list(range(5))
