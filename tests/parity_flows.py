"""Module-level flows and graphs of the backend-parity suite (importable by name, so
worker processes of every backend can rebuild them).

Flows never look at the clock, so what a sink sees depends only on the order of
messages: the same graph must give every backend the same sequences (a real-time
backend may start late or stop early). Sinks append one JSON line per step to the
file named by their constructor argument.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from retriever.flow import (
    EdgeConfig,
    Events,
    Flow,
    Hybrid,
    Latest,
    Pipeline,
    Rate,
    Tick,
    Trigger,
    Window,
    io,
)


@io
class Num:
    value: int


@io
class Two:
    a: int
    b: int


# ---------------------------------------------------------------------- the handbook's
# flows of section 5.5 (AddOne fails if it ever sees value=None)

@io
class SrcOut:
    value: int


@io
class AddOut:
    value: int


class Source(Flow[None, SrcOut]):
    """Counts 1, 2, 3, ..."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> SrcOut:
        self.n += 1
        return SrcOut(value=self.n)


class AddOne(Flow[SrcOut, AddOut]):
    """Adds one (a TypeError on None: it must never run before its input has a value)."""

    def step(self, inp: SrcOut) -> AddOut:
        return AddOut(value=inp.value + 1)


class Quiet(Flow[None, SrcOut]):
    """Never publishes (whoever waits on it waits forever)."""

    def step(self, _: None) -> SrcOut | None:
        return None


# ---------------------------------------------------------------------- flows

class Count(Flow[None, Num]):
    """Publishes 1, 2, 3, ..."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        self.n += 1
        return Num(value=self.n)


class Add(Flow[Num, Num]):
    """Adds ``k``."""

    def __init__(self, k: int) -> None:
        self.k = k

    def step(self, inp: Num) -> Num:
        return Num(value=inp.value + self.k)


class Ticker(Flow[Num, Num]):
    """Counts its own runs; -1 whenever its (connected) input was sampled anyway."""

    def reset(self) -> None:
        self.n = 0

    def step(self, inp: Num) -> Num:
        self.n += 1
        return Num(value=self.n if inp.value is None else -1)


@io
class NumEvents:
    """What ``Events`` hands to step for a ``Num`` port: ``(stamp, value)`` pairs."""

    value: list[tuple[float, int]]


class Listing(Flow[NumEvents, Num]):
    """Sees an Events list of ``(stamp, value)``; publishes its first value times 100
    plus its length."""

    def step(self, inp: NumEvents) -> Num:
        got: Any = inp.value or []
        return Num(value=(got[0][1] * 100 + len(got)) if got else 0)


class Slow(Flow[None, Num]):
    """Counts like :class:`Count` but each step takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        time.sleep(self.seconds)
        self.n += 1
        return Num(value=self.n)


class Log(Flow[Num, None]):
    """Appends every value it sees to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __lazy_init__(self) -> None:
        self._fh = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in finalize

    def step(self, inp: Num) -> None:
        self._fh.write(json.dumps(inp.value) + "\n")

    def finalize(self) -> None:
        self._fh.close()


class LogTwo(Flow[Two, None]):
    """Appends every (a, b) it sees."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __lazy_init__(self) -> None:
        self._fh = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in finalize

    def step(self, inp: Two) -> None:
        self._fh.write(json.dumps([inp.a, inp.b]) + "\n")

    def finalize(self) -> None:
        self._fh.close()


def read(path: str | Path) -> list[Any]:
    """Every value a sink logged, in order."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------- graphs

HZ = 20.0
#: The sinks of :func:`graph` and the partition of every flow (sources, then the
#: middle of the graph, then the sinks: every kind of edge crosses processes once and
#: the Trigger chain also runs inside one partition).
SINKS = ("fan_a", "fan_b", "chain", "join", "hybrid", "ticks", "events", "window")


def graph(out: Path) -> tuple[Pipeline, dict[str, str]]:
    """Every parity case in one pipeline, and its partitions."""
    pipe = Pipeline("parity")
    lat = Latest()
    part: dict[str, str] = {}

    def node(flow: Flow[Any, Any], clock: Any, name: str, where: str) -> Any:
        tf = pipe.add(flow @ clock, name=name)
        part[name] = where
        return tf

    def sink(name: str, flow: Flow[Any, Any] | None = None) -> Any:
        return node(flow or Log(str(out / f"{name}.jsonl")), Trigger("value"), name, "sinks")

    # fan-out: one source, two sinks
    src = node(Count(), Rate(hz=HZ), "src", "sources")
    pipe.connect(src, sink("fan_a"), sync=lat)
    pipe.connect(src, sink("fan_b"), sync=lat)
    # a Trigger chain: +1 then +10 (local to one partition), then a sink
    inc = node(Add(1), Trigger("value"), "inc", "middle")
    inc10 = node(Add(10), Trigger("value"), "inc10", "middle")
    pipe.connect(src, inc, sync=lat)
    pipe.connect(inc, inc10, sync=lat)
    pipe.connect(inc10, sink("chain"), sync=lat)
    # fan-in on distinct ports: two sources into a and b of one sink
    other = node(Count(), Rate(hz=HZ), "other", "sources")
    join = node(LogTwo(str(out / "join.jsonl")), Trigger("a", "b"), "join", "sinks")
    pipe.connect(src, join, map={"value": "a"}, sync=lat)
    pipe.connect(other, join, map={"value": "b"}, sync=lat)
    # Hybrid: periodic and on each arrival
    hyb = node(Add(0), Hybrid(hz=HZ / 4, trigger=["value"]), "hyb", "middle")
    pipe.connect(src, hyb, sync=lat)
    pipe.connect(hyb, sink("hybrid"), sync=lat)
    # Tick: samples nothing although connected
    tick = node(Ticker(), Tick(hz=HZ / 2), "tick", "middle")
    pipe.connect(src, tick, sync=lat)
    pipe.connect(tick, sink("ticks"), sync=lat)
    # Events: the last three arrivals, in order
    ev = node(Listing(), Trigger("value"), "listing", "middle")
    pipe.connect(src, ev, sync=Events(duration=1e6), edge_config={"*": EdgeConfig(qsize=3)})
    pipe.connect(ev, sink("events"), sync=lat)
    # Window: the largest of the last three arrivals
    win = node(Add(0), Trigger("value"), "win", "middle")
    pipe.connect(src, win, sync=Window(duration=1e6, agg="max"),
                 edge_config={"*": EdgeConfig(qsize=3)})
    pipe.connect(win, sink("window"), sync=lat)
    return pipe, part


def lag_graph(out: Path, step_seconds: float) -> Pipeline:
    """Slow periodic flows under each non-raising lag policy, each with a sink."""
    pipe = Pipeline("lag")
    for policy in ("drop", "catch_up"):
        slow = pipe.add(Slow(step_seconds) @ Rate(hz=10, on_lag=policy), name=f"slow_{policy}")
        log = pipe.add(Log(str(out / f"{policy}.jsonl")) @ Trigger("value"),
                       name=f"log_{policy}")
        pipe.connect(slow, log, sync=Latest())
    return pipe
