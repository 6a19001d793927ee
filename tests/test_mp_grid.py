"""The multiprocessing worker's scheduling helpers: periodic clocks on the run's grid
(``Scheduler.join_grid``) and no send hook for flows nobody outside hears
(``Scheduler.keep_local``). Pure logic, no processes."""

from __future__ import annotations

import math

from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.rt.node import Message
from retriever.rt.step import Scheduler

from .core_flows import AddOne, Source


def _sched() -> Scheduler:
    pipe = Pipeline("grid")
    fast = (Source() @ Rate(hz=100)).named("fast")
    slow = (Source() @ Rate(hz=30)).named("slow")
    add = (AddOne() @ Trigger("value")).named("add")
    pipe.connect(fast, add, sync=Latest())
    pipe.add(slow)
    return Scheduler(pipe.validate())


def test_a_clock_joining_in_its_first_period_ticks_at_once_on_the_grid() -> None:
    sched = _sched()
    sched.join_grid(0.0004)  # a worker whose loop starts 0.4 ms after the run's start
    assert sched.next_due() == 0.0  # due now: the first tick is the run's start
    sched.tick(0.0004)
    # later ticks fall on whole periods since the run's start, not since the worker's
    due, period = sched.next_deadline()
    assert math.isclose(due, 0.01) and math.isclose(period, 0.01)
    trackers = {rt.name: rt.tracker for rt in sched.runtimes.values() if rt.tracker}
    assert math.isclose(trackers["slow"].next_due, 1 / 30)
    assert sched.runtimes["fast"].steps == sched.runtimes["slow"].steps == 1


def test_a_clock_joining_later_waits_for_the_next_multiple_of_its_period() -> None:
    sched = _sched()
    sched.join_grid(1.2345)  # a restarted worker, 1.2345 s into the run
    trackers = {rt.name: rt.tracker for rt in sched.runtimes.values() if rt.tracker}
    assert math.isclose(trackers["fast"].next_due, 1.24)
    assert math.isclose(trackers["slow"].next_due, 38 / 30)
    sched.tick(1.2346)
    assert sched.runtimes["fast"].steps == 0  # nothing is due before the grid point
    sched.tick(1.24)
    assert sched.runtimes["fast"].steps == 1
    assert trackers["fast"].skipped == 0


def test_only_flows_heard_elsewhere_reach_the_send_hook() -> None:
    sent: list[str] = []

    def send(name: str, now: float, msg: Message) -> None:
        sent.append(name)

    sched = _sched()
    sched.send = send
    sched.keep_local(["add"])
    sched.join_grid(0.0)
    sched.tick(0.0)
    sched.tick(0.01)
    # the local consumer still gets every message; only the hook is skipped for it
    assert sched.runtimes["add"].steps == 2
    assert sorted(sent) == ["fast", "fast", "slow"]
    sched.close()
