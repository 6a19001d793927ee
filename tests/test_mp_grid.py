"""The multiprocessing worker's scheduling helpers: periodic clocks on the run's grid
(``Scheduler.join_grid``) and no send hook for flows nobody outside hears
(``Scheduler.keep_local``), senders of their own for flows heard elsewhere
(``Scheduler.send_from``) and when a pass has nothing to run (``Scheduler.settled``).
Pure logic, no processes."""

from __future__ import annotations

import math

from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.rt.node import Message
from retriever.rt.step import Scheduler

from . import parity_flows as P
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


def test_a_graph_without_cycles_is_settled_after_each_pass_and_arrivals_unsettle_it(
        ) -> None:
    sched = _sched()
    sched.join_grid(0.0)
    sched.tick(0.0)
    assert sched.settled()  # the pass ran what it armed: a tick before 0.01 does nothing
    add = sched.runtimes["add"]
    sched.on_arrival([(add, [("value", "value")])], 0.001, {"value": 41})
    assert not sched.settled()  # armed by an arrival that no pass has run yet
    sched.run_triggered(0.001)
    assert sched.settled() and add.steps == 2
    sched.close()


def test_a_flow_fed_back_after_its_turn_keeps_the_scheduler_unsettled() -> None:
    pipe = Pipeline("ring")
    a = (P.Add(1) @ Trigger("value")).named("a")
    b = (P.Add(1) @ Trigger("value")).named("b")
    pipe.connect(a, b, sync=Latest())
    pipe.connect(b, a, sync=Latest())
    sched = Scheduler(pipe.validate())
    sched.on_arrival([(sched.runtimes["a"], [("value", "value")])], 0.0, {"value": 0})
    sched.run_triggered(0.0)
    # a ran, then b, whose message arms a again after its turn: a pass is still owed
    assert sched.runtimes["a"].steps == 1 and sched.runtimes["b"].steps == 1
    assert not sched.settled()
    sched.tick(0.001)
    assert sched.runtimes["a"].steps == 2
    sched.close()


def test_a_flow_with_its_own_sender_bypasses_the_send_hook() -> None:
    hooked: list[str] = []
    own: list[tuple[float, int]] = []

    def send(name: str, now: float, msg: Message) -> None:
        hooked.append(name)

    def fast_sender(now: float, msg: Message) -> None:
        own.append((now, msg["value"]))

    sched = _sched()
    sched.send = send
    sched.send_from("fast", fast_sender)
    sched.join_grid(0.0)
    sched.tick(0.0)
    sched.tick(0.01)
    assert own == [(0.0, 1), (0.01, 2)]  # every message, stamped with its pass's time
    assert sorted(hooked) == ["add", "add", "slow"]
    sched.send_from("fast", None)  # back to the hook
    sched.tick(0.02)
    assert hooked.count("fast") == 1 and len(own) == 2
    sched.close()
