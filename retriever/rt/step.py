"""The one partition scheduler that every backend drives.

A :class:`Scheduler` owns the flows of one partition (the whole graph for the stepper
and the in-process backend): their :class:`NodeRuntime` objects, the execution order,
the routes between flows of the partition, one :class:`LagTracker` per periodic clock,
what each clock kind samples, start-up, finalize-all and the counters. Backends only
bring a time source, a way to wait and a way to move bytes:

- :meth:`Scheduler.tick` runs, in dependency order, every periodic flow whose tick is
  due (the lag policy decides which ticks) and every Trigger/Hybrid flow that received
  a message since its last run, including messages published earlier in the same pass;
- :meth:`Scheduler.on_arrival` puts a message from another partition into the ports it
  feeds; :meth:`Scheduler.run_triggered` then runs the flows it triggered;
- :meth:`Scheduler.on_timer` is for engines that time periodic flows themselves (dora);
- :meth:`Scheduler.finalize_all` finalizes every flow and reports every failure.

Clock kinds, decided here only: ``rate`` samples every connected input, ``tick``
samples none, ``trigger`` samples its trigger ports and runs only on arrivals there,
``hybrid`` is periodic and also runs (sampling everything) on a trigger arrival.

Start-up: a flow whose runs sample every connected input (Rate, Hybrid) first runs
once each connected input port holds a value, so no step ever sees ``None`` only
because the source has not published yet. Ports fed back from the flow's own outputs
(a cycle) are not waited for: they could only fill after it ran.
``Rate(hz, wait_for_inputs=False)`` opts out. Until then the flow is *waiting*; its
counters name the ports it waits on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retriever.contract.errors import FlowError
from retriever.flow.types import TimedBuffer
from retriever.ir.model import IR, NodeIR

from .graph import Route, build_runtimes, feedback_ports, local_routes, topo_order
from .lag import LagTracker
from .node import Message, NodeRuntime

#: A replay source: given (now, step index) returns the message to publish, or None.
ReplaySource = Callable[[float, int], "Message | None"]
#: Called after every execution: (runtime, time, sampled input, output, message).
RunHook = Callable[[NodeRuntime, float, Any, Any, "Message | None"], None]
#: Sends a published message to other partitions: (flow, time, message).
SendHook = Callable[[str, float, Message], None]
#: Sends the messages of one flow to other partitions: (time, message).
FlowSender = Callable[[float, Message], None]

# What a run samples, per clock kind: every connected input, the trigger ports, nothing.
ALL, TRIGGER, NONE = "all", "trigger", "none"
_PERIODIC_MODE = {"rate": ALL, "hybrid": ALL, "tick": NONE}
_TRIGGERED_MODE = {"trigger": TRIGGER, "hybrid": ALL}


@dataclass
class ScheduleResult:
    """What one scheduler pass did.

    ``now`` is the time the pass used for sampling and for the timestamps of what it
    published; ``executed`` lists the flows that ran, in order (a flow catching up runs
    several times); ``inputs``/``outputs``/``messages`` keep each flow's last run.
    ``behind`` is True when a flow caught up on missed ticks in this pass: those runs
    sampled and published at their own, earlier times.
    """

    now: float
    executed: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    behind: bool = False


class Subscriber:
    """Read access to one input port of a flow."""

    __slots__ = ("_rt", "port")

    def __init__(self, rt: NodeRuntime, port: str) -> None:
        self._rt = rt
        self.port = port

    def get_all(self) -> TimedBuffer[Any]:
        """The port's timed buffer: ``[(timestamp, value), ...]``, oldest first."""
        return self._rt.ports[self.port].buffer


class _Entry:
    """One flow's place in the execution order and how its clock schedules it."""

    __slots__ = ("gated", "kind", "periodic_mode", "remote", "routes", "rt", "sender",
                 "tracker", "triggered_mode")

    def __init__(self, rt: NodeRuntime, tracker: LagTracker | None,
                 routes: list[Route]) -> None:
        self.rt = rt
        self.routes = routes
        self.remote = True  # its messages go to ``Scheduler.send`` (see keep_local)
        self.sender: FlowSender | None = None  # ... or to its own (see send_from)
        kind = rt.clock.kind
        self.kind = kind
        self.tracker = tracker
        self.periodic_mode = _PERIODIC_MODE.get(kind) if tracker is not None else None
        self.triggered_mode = _TRIGGERED_MODE.get(kind)
        # sample-all runs wait for every connected input once, unless opted out
        self.gated = (kind in ("rate", "hybrid") and bool(rt.clock.wait_for_inputs)
                      and bool(rt.connected_ports()))


def combine_errors(errors: list[BaseException], what: str) -> BaseException | None:
    """None, the only error, or an exception group holding every one of them."""
    if not errors:
        return None
    if len(errors) == 1:
        return errors[0]
    if all(isinstance(e, Exception) for e in errors):
        return ExceptionGroup(f"{len(errors)} errors {what}",
                              [e for e in errors if isinstance(e, Exception)])
    return BaseExceptionGroup(f"{len(errors)} errors {what}", errors)


class Scheduler:
    """Schedules and executes the flows of one partition (see the module docs).

    ``send`` publishes to other partitions, ``on_run`` sees every execution (observers,
    acknowledgements), ``should_stop`` is asked between the runs of a flow that catches
    up on many missed ticks, so a stop or the end of a run is never held up by them.
    """

    def __init__(self, ir: IR, *, only: Iterable[str] | None = None,
                 live: Mapping[str, Any] | None = None, start: float = 0.0,
                 collect: bool = False) -> None:
        self.ir = ir
        self.order = topo_order(ir, only)
        self.runtimes: dict[str, NodeRuntime] = build_runtimes(ir, live, self.order)
        self.routes: dict[str, list[Route]] = local_routes(ir, self.runtimes)
        self.collect = collect
        self.send: SendHook | None = None
        self.on_run: RunHook | None = None
        self.should_stop: Callable[[], bool] | None = None
        self.replay: dict[str, ReplaySource] = {}
        self.index = 0
        self.finalized = False
        self._entries: list[_Entry] = []
        self._by_name: dict[str, _Entry] = {}
        for name in self.order:
            rt = self.runtimes[name]
            c = rt.clock
            tracker = LagTracker(name, c.hz, c.on_lag, start) if c.hz else None
            rt.tracker = tracker
            entry = _Entry(rt, tracker, self.routes[name])
            self._entries.append(entry)
            self._by_name[name] = entry
        self._triggered = [e for e in self._entries if e.triggered_mode is not None]
        # flows a pass can leave armed: fed by a flow that runs after them (a cycle)
        self._fed_back = self._fed_back_entries()
        self._arrived = False  # on_arrival armed flows that no pass has run yet
        self._timed: set[str] = set()  # flows whose first engine timer event came
        feedback = feedback_ports(ir)
        for name, rt in self.runtimes.items():
            skip = feedback.get(name, set())
            rt.await_inputs([p for p in rt.connected_ports() if p not in skip])
        for e in self._entries:
            e.gated = e.gated and bool(e.rt.missing_inputs())
        self._result: ScheduleResult | None = None

    # ------------------------------------------------------------------ queries
    def subscriber(self, flow: str, port: str) -> Subscriber:
        """Read access to input ``port`` of ``flow``."""
        return Subscriber(self.runtimes[flow], port)

    def lockstep_mode(self, flow: str) -> str:
        """What a run of ``flow`` samples in a lockstep pass (``tick(lockstep=True)``):
        ``all``, ``trigger`` or ``none``."""
        e = self._by_name[flow]
        mode = e.periodic_mode if e.periodic_mode is not None else e.triggered_mode
        return mode or NONE

    def next_due(self) -> float:
        """The earliest time a periodic flow is due (``inf`` when there is none)."""
        due = float("inf")
        for e in self._entries:
            t = e.tracker
            if t is not None and t.next_due < due:
                due = t.next_due
        return due

    def next_deadline(self) -> tuple[float, float]:
        """``(time, period)`` of the periodic flow due first (``(inf, 0)`` if none)."""
        due, period = float("inf"), 0.0
        for e in self._entries:
            t = e.tracker
            if t is not None and t.next_due < due:
                due, period = t.next_due, t.period
        return due, period

    def anchor(self, start: float) -> None:
        """Make every periodic clock's first tick due at ``start`` (a run's start)."""
        for e in self._entries:
            if e.tracker is not None:
                e.tracker.next_due = start

    def _fed_back_entries(self) -> list[_Entry]:
        """Triggered flows fed by a flow at or after them in the execution order: a
        pass publishes to them after their turn, so they may still be armed when it
        ends (in a graph without cycles, none)."""
        place = {e.rt.name: i for i, e in enumerate(self._entries)}
        back: list[_Entry] = []
        for i, e in enumerate(self._entries):
            for dst, _ in e.routes:
                target = self._by_name[dst.name]
                if place[dst.name] <= i and target.triggered_mode is not None \
                        and target not in back:
                    back.append(target)
        return back

    def settled(self) -> bool:
        """Whether no Trigger/Hybrid flow is armed, so that a :meth:`tick` before the
        next periodic deadline (:meth:`next_deadline`) would run nothing. Arrivals
        (:meth:`on_arrival`) unsettle it until a pass (:meth:`tick`,
        :meth:`run_triggered`) ran; a pass settles it unless a cycle fed a flow whose
        turn had passed. Cheap: only such flows are looked at (none without cycles)."""
        if self._arrived:
            return False
        fed = self._fed_back
        return not fed or not any(e.rt.armed for e in fed)

    def send_from(self, flow: str, sender: FlowSender | None) -> None:
        """Hand the messages ``flow`` publishes to ``sender`` instead of :attr:`send`
        (one call per message, with no lookup by name on the hot path); None: back to
        :attr:`send`."""
        self._by_name[flow].sender = sender

    def keep_local(self, flows: Iterable[str]) -> None:
        """Never hand the messages of ``flows`` to :attr:`send`: nothing outside this
        partition listens to them (a call per message saved on the hot path)."""
        for name in flows:
            self._by_name[name].remote = False

    def join_grid(self, now: float) -> None:
        """Make every periodic clock tick on the run's grid: at whole multiples of its
        period since the run's start (time 0). A clock joining within its first period
        ticks at once (its tick is the run's start); one joining later (a restarted
        worker) waits for the next multiple. Clocks of the same rate in different
        processes then tick together, so that a worker woken for its own tick also finds
        its peers' messages of that tick (the multiprocessing worker does this when
        every worker has a core of its own)."""
        for e in self._entries:
            t = e.tracker
            if t is not None:
                t.next_due = 0.0 if now < t.period else math.ceil(now / t.period) * t.period

    def periods(self) -> list[float]:
        """The periods of the periodic flows."""
        return [e.tracker.period for e in self._entries if e.tracker is not None]

    def waiting(self) -> dict[str, list[str]]:
        """Flows that have not started because inputs never received a value, and which."""
        out: dict[str, list[str]] = {}
        for e in self._entries:
            if e.gated:
                missing = e.rt.missing_inputs()
                if missing:
                    out[e.rt.name] = missing
                else:
                    e.gated = False
        return out

    # ------------------------------------------------------------------ scheduling
    def tick(self, now: float, *, lockstep: bool = False) -> ScheduleResult | None:
        """One pass in dependency order at time ``now``.

        Periodic flows run for each due tick (``lockstep``: once, at ``now``, whatever
        their rate, which is what the stepper does); Trigger flows and Hybrid flows with
        no due tick run when triggered. Returns what ran when collecting results.
        """
        result = self._begin(now)
        replay = self.replay
        run = self._run
        self._arrived = False
        for e in self._entries:
            rt = e.rt
            if replay and rt.name in replay:
                self._replay(rt, now)
                continue
            mode = e.periodic_mode
            if mode is not None:
                if lockstep:
                    run(e, now, mode)
                    continue
                tracker = e.tracker
                assert tracker is not None
                if tracker.next_due <= now:
                    ticks = tracker.due(now)
                    if ticks:
                        self._run_ticks(e, ticks, now, mode)
                        continue
            tmode = e.triggered_mode
            if tmode is not None and rt.armed:
                run(e, now, tmode)
        self.index += 1
        self._result = None
        return result

    def run_triggered(self, now: float) -> ScheduleResult | None:
        """Run, in dependency order, the Trigger/Hybrid flows that received messages."""
        self._arrived = False
        if not self.collect:  # the per-arrival path of every worker: no extra calls
            run = self._run
            for e in self._triggered:
                if e.rt.armed:
                    run(e, now, e.triggered_mode)  # type: ignore[arg-type]
            return None
        result = self._begin(now)
        self._triggered_pass(now)
        self._result = None
        return result

    def _triggered_pass(self, now: float) -> None:
        for e in self._triggered:
            if e.rt.armed:
                self._run(e, now, e.triggered_mode)  # type: ignore[arg-type]

    def on_timer(self, flow: str, due: float, now: float) -> None:
        """A periodic flow's timer, due at ``due``, fired and is handled at ``now``.

        For engines that time periodic flows themselves: the flow's first timer event
        anchors its clock on ``due``; later ones only align the clock's phase with the
        engine's, so timer events the engine dropped (a full queue while the flow was
        slow) are still due ticks that the lag policy runs or counts as skipped. A timer
        event already covered by a skip or a catch-up of an earlier one is ignored.
        """
        e = self._by_name[flow]
        tracker = e.tracker
        if tracker is None or e.periodic_mode is None:
            return
        period = tracker.period
        if flow not in self._timed:
            self._timed.add(flow)
            tracker.next_due = due
        else:
            if due < tracker.next_due - period / 2:
                return
            # whole periods between the tracker's deadline and ``due`` are ticks whose
            # events were lost: keep them due
            tracker.next_due = due - round((due - tracker.next_due) / period) * period
        ticks = tracker.due(now)
        if ticks:
            self._run_ticks(e, ticks, now, e.periodic_mode)
        self.run_triggered(now)

    def on_arrival(self, routes: Iterable[Route], ts: float, message: Message) -> None:
        """A message from another partition, stamped ``ts``: fill the ports it feeds."""
        self._arrived = True
        for rt, pairs in routes:
            rt.deliver(pairs, ts, message)

    # ------------------------------------------------------------------ execution
    def _begin(self, now: float) -> ScheduleResult | None:
        if not self.collect:
            return None
        if self._result is None:
            self._result = ScheduleResult(now=now)
        return self._result

    def _run_ticks(self, e: _Entry, ticks: list[float], now: float, mode: str) -> None:
        """Run the due ticks the lag policy chose. Missed ticks that are caught up run
        at their own times, each followed by the Trigger flows it triggered; the newest
        runs at ``now``, so it samples every message that arrived before it ran (a run
        stamped earlier would miss them).

        Between two runs of a burst ``should_stop`` is asked: when the run is ending the
        burst ends there, and the ticks it did not run are counted (``skipped_at_stop``),
        also when ``should_stop`` ends the run by raising."""
        if len(ticks) > 1:
            if self._result is not None:
                self._result.behind = True
            stop = self.should_stop
            last = len(ticks) - 1
            for i in range(last):
                t = ticks[i]
                self._run(e, t, mode)
                # what the caught-up run published is handled before the next run, as
                # an arrival from another partition would be
                self._triggered_pass(t)
                if stop is None:
                    continue
                try:
                    halt = stop()
                except BaseException:
                    self._cut(e, last - i)
                    raise
                if halt:
                    self._cut(e, last - i)
                    return
        self._run(e, now, mode)

    @staticmethod
    def _cut(e: _Entry, left: int) -> None:
        """``left`` due ticks of ``e`` will not run: the run is stopping."""
        if e.tracker is not None:
            e.tracker.cut_at_stop += left

    def _run(self, e: _Entry, now: float, mode: str) -> None:
        # the hot path of every backend: kept flat on purpose
        rt = e.rt
        if e.gated and mode == ALL:
            if rt.missing_inputs():
                return  # start-up: not every connected input has a value yet
            e.gated = False
        inp, out, msg = rt.execute(now, mode)
        if self.on_run is not None:
            self.on_run(rt, now, inp, out, msg)
        res = self._result
        if res is not None:
            name = rt.name
            res.executed.append(name)
            res.inputs[name] = inp
            res.outputs[name] = out
            if msg:
                res.messages[name] = msg
        if msg:
            for dst, pairs in e.routes:
                dst.deliver(pairs, now, msg)
            sender = e.sender
            if sender is not None:
                sender(now, msg)
            elif e.remote and self.send is not None:
                self.send(rt.name, now, msg)

    def _replay(self, rt: NodeRuntime, now: float) -> None:
        name = rt.name
        msg = self.replay[name](now, self.index)
        res = self._result
        if res is not None:
            res.executed.append(name)
            if msg:
                res.messages[name] = msg
        if msg:
            self.publish(name, now, msg)

    def publish(self, name: str, now: float, msg: Message) -> None:
        """Deliver ``name``'s message to the flows of this partition, then send it on."""
        for dst, pairs in self.routes[name]:
            dst.deliver(pairs, now, msg)
        sender = self._by_name[name].sender
        if sender is not None:
            sender(now, msg)
        elif self.send is not None:
            self.send(name, now, msg)

    # ------------------------------------------------------------------ end and counters
    def finalize_all(self) -> list[FlowError]:
        """Finalize every flow once, even when some fail; every failure is returned."""
        if self.finalized:
            return []
        self.finalized = True
        errors: list[FlowError] = []
        for name in self.order:
            try:
                self.runtimes[name].finalize()
            except FlowError as exc:
                errors.append(exc)
        return errors

    def close(self) -> None:
        """Finalize every flow; raise the failure, or a group of all of them."""
        err = combine_errors(list(self.finalize_all()), "while finalizing flows")
        if err is not None:
            raise err

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-flow counters (see :meth:`NodeRuntime.stats`), with the ports a waiting
        flow waits on."""
        waiting = self.waiting()
        out: dict[str, dict[str, Any]] = {}
        for name in self.order:
            s: dict[str, Any] = dict(self.runtimes[name].stats())
            s["waiting_on"] = waiting.get(name, [])
            out[name] = s
        return out


def send_period(node: NodeIR) -> float:
    """The period at which ``node`` publishes when its clock alone decides when it runs
    (``Rate`` and ``Tick``: at most one message per tick, on the clock's grid), else 0:
    ``Hybrid`` and ``Trigger`` flows also run, and publish, on arrivals."""
    clock = node.clock
    if clock.kind in _PERIODIC_MODE and clock.kind not in _TRIGGERED_MODE and clock.hz:
        return 1.0 / clock.hz
    return 0.0


__all__ = ["FlowSender", "ReplaySource", "RunHook", "ScheduleResult", "Scheduler", "SendHook",
           "Subscriber", "combine_errors", "send_period"]
