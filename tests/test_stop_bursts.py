"""A ``catch_up`` flow far behind its clock never holds a run past its end.

A 50 Hz ``catch_up`` flow whose step takes 200 ms falls further behind with every burst
of due ticks (each burst is ten times the one before; the second runs 10 ticks, 2 s).
Every backend must end such a run when its ``duration`` is over: the burst is cut between
two of its runs, the flow is finalized (never killed after the stop grace), and the
ticks it did not run are counted in ``skipped_at_stop``. The bounds on time are generous
on purpose: they only separate "ended at the stop" from "killed after the grace".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from retriever.flow import Pipeline, Rate
from retriever.rt.report import RunReport
from retriever.rt.stepper import Stepper

from . import dora_flows
from . import mp_flows as F
from .fault_support import Leaks

DURATION = 0.5
GRACE = 8.0  # the stop grace of the process backends: a killed run takes this long
DELAY = 0.2  # the slow flow's step (its period is 20 ms): the second burst lasts 2 s


def _pipe(log: Path, delay: float = DELAY) -> Pipeline:
    pipe = Pipeline("bursts")
    pipe.add((F.SlowTick(str(log), delay=delay) @ Rate(hz=50, on_lag="catch_up"))
             .named("slow"))
    return pipe


def _options(backend: str) -> dict[str, Any]:
    if backend == "dora":
        return {"echo": False, "stop_grace": GRACE}
    if backend == "multiprocessing":
        return {"stop_timeout": GRACE}
    return {}


def test_the_scheduler_cuts_a_burst_when_asked_to_stop(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    stepper = Stepper(_pipe(log, delay=0.0).validate(), honor_rates=True)
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 3

    stepper.scheduler.should_stop = stop
    stepper.step(now=0.0)  # the first tick, on time
    stepper.step(now=1.0)  # 50 ticks due at once: the stop comes after the third
    stats = stepper.stats()["slow"]
    assert stats.steps == 1 + 3
    assert stats.skipped_at_stop == 50 - 3 and stats.skipped_ticks == 0
    stepper.close()
    rows, finals = F.read_log(log)
    assert len(rows) == 4 and len(finals) == 1


def test_a_stop_that_raises_still_counts_the_cut_ticks(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop() -> bool:
        raise Stop  # how the multiprocessing worker ends a burst

    stepper = Stepper(_pipe(tmp_path / "slow.log", delay=0.0).validate(), honor_rates=True)
    stepper.scheduler.should_stop = stop
    stepper.step(now=0.0)
    with pytest.raises(Stop):
        stepper.step(now=0.2)  # 10 ticks due; the first runs
    assert stepper.stats()["slow"].skipped_at_stop == 9
    stepper.close()


@pytest.mark.parametrize("backend", [
    "in-process", "multiprocessing",
    pytest.param("dora", marks=pytest.mark.skipif(
        not dora_flows.dora_installed(), reason="dora-rs / dora-rs-cli / pyarrow not installed")),
])
def test_a_catch_up_burst_ends_at_the_end_of_the_run(backend: str, tmp_path: Path) -> None:
    leaks = Leaks()
    log = tmp_path / "slow.log"
    t0 = time.monotonic()
    report = _pipe(log).run(backend=backend, duration=DURATION, **_options(backend))
    elapsed = time.monotonic() - t0
    assert isinstance(report, RunReport) and report.error is None
    assert report.duration < DURATION + GRACE / 2, report.summary()
    if backend != "dora":  # dora's start-up is not part of the duration
        assert elapsed < DURATION + GRACE / 2
    rows, finals = F.read_log(log)
    assert len(finals) == 1  # finalized: the flow was stopped, not killed
    slow = report.flows["slow"]
    assert slow.steps == len(rows) and slow.lag_events > 0
    # the burst running at the stop was cut, and what it did not run is reported
    assert slow.skipped_at_stop > 0 and slow.skipped_ticks == 0
    leaks.assert_clean()


# ------------------------------------------------------------------ dora's look for STOP

class _FakeNode:
    """dora's queue: ``try_recv`` gives the queued events, then None."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = list(events)

    def try_recv(self) -> dict[str, Any] | None:
        return self.events.pop(0) if self.events else None


def _ev(eid: str, n: int) -> dict[str, Any]:
    return {"type": "INPUT", "id": eid, "n": n}


def test_dora_looks_for_stop_between_runs_and_keeps_what_it_passed() -> None:
    from retriever.rt.backends.dora.stopping import HeldEvents, NodeStop

    stop = NodeStop()
    stop.held = HeldEvents({"in_a": 2, "in_b": None}, ["tick_x"])
    stop.node = _FakeNode([_ev("tick_x", 0), _ev("in_a", 1), _ev("in_a", 2), _ev("in_b", 1),
                           _ev("in_a", 3), _ev("tick_x", 1), _ev("in_b", 2)])
    assert stop.requested() is False  # nothing but inputs: the burst goes on
    held = stop.held
    got = [(e["id"], e["n"]) for e in (held.pop() for _ in range(len(held)))]
    # in_a keeps its newest two (its queue size; the gap counts as dropped), in_b (a
    # backpressure input) everything, the timer its newest tick; arrival order kept
    assert got == [("in_a", 2), ("in_b", 1), ("in_a", 3), ("tick_x", 1), ("in_b", 2)]
    stop.node = _FakeNode([_ev("in_a", 4), {"type": "STOP", "id": "MANUAL"}, _ev("in_a", 5)])
    assert stop.requested() is True and stop.stopping
    assert [e["n"] for e in (held.pop() for _ in range(len(held)))] == [4]
