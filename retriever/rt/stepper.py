"""The in-process stepper: deterministic, single-threaded, debugger friendly.

Each :meth:`Stepper.step` advances a logical clock and visits the flows in dependency
order. ``Rate``, ``Tick`` and ``Hybrid`` flows run on every step; ``Trigger`` flows run
when one of their fields received a message since their last run, including messages
published earlier in the same step; ``Hybrid`` flows also run on such arrivals (every
step already). With ``honor_rates=True`` periodic flows run only when their period is
due (used by ``backend="in-process"`` runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retriever.ir.model import IR

from .graph import Route, build_runtimes, local_routes, topo_order
from .lag import LagTracker
from .node import Message, NodeRuntime
from .report import FlowStats

#: A replay source: given (now, step index) returns the message to publish, or None.
ReplaySource = Callable[[float, int], "Message | None"]


@dataclass
class StepResult:
    """What one step did: its time, which flows ran, their inputs and outputs."""

    now: float
    executed: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)


class Stepper:
    """Runs an IR in this process, one logical step at a time."""

    def __init__(self, ir: IR, live: Mapping[str, Any] | None = None, *,
                 honor_rates: bool = False, start: float = 0.0) -> None:
        self.ir = ir
        self.order = topo_order(ir)
        self.runtimes: dict[str, NodeRuntime] = build_runtimes(ir, live)
        self.routes: dict[str, list[Route]] = local_routes(ir, self.runtimes)
        self.honor_rates = honor_rates
        self.now: float | None = None
        self.index = 0
        self.replay: dict[str, ReplaySource] = {}
        self.observers: list[Callable[[StepResult], None]] = []
        self.closed = False
        self._lag: dict[str, LagTracker] = {}
        for name, rt in self.runtimes.items():
            c = rt.clock
            if c.hz:
                self._lag[name] = LagTracker(name, c.hz, c.on_lag, start)
        self._plan = [(self.runtimes[n], c.kind, bool(c.hz))
                      for n in self.order for c in (self.runtimes[n].clock,)]

    def default_dt(self) -> float:
        """The smallest period among periodic flows (0.1 s when there is none)."""
        periods = [1.0 / rt.clock.hz for rt in self.runtimes.values() if rt.clock.hz]
        return min(periods) if periods else 0.1

    def step(self, dt: float | None = None, now: float | None = None) -> StepResult:
        """Advance one step (``now`` wins over ``dt``) and return what happened."""
        if now is None:
            now = 0.0 if self.now is None else self.now + (dt if dt is not None
                                                           else self.default_dt())
        self.now = now
        result = StepResult(now=now)
        for rt, kind, periodic in self._plan:
            name = rt.name
            if name in self.replay:
                msg = self.replay[name](now, self.index)
                result.executed.append(name)
                if msg:
                    result.messages[name] = msg
                    self._route(name, now, msg)
                continue
            if kind == "trigger":
                if rt.triggered():
                    self._run(rt, now, "trigger", result)
                continue
            if self.honor_rates and periodic:
                ticks = self._lag[name].due(now)
                rt.lag_events = self._lag[name].lag_events
                rt.skipped_ticks = self._lag[name].skipped
                if not ticks:
                    if kind == "hybrid" and rt.triggered():
                        self._run(rt, now, "all", result)
                    continue
                for t in ticks:
                    self._run(rt, t, "none" if kind == "tick" else "all", result)
                continue
            self._run(rt, now, "none" if kind == "tick" else "all", result)
        self.index += 1
        for obs in self.observers:
            obs(result)
        return result

    def _run(self, rt: NodeRuntime, now: float, mode: str, result: StepResult) -> None:
        inp, out, msg = rt.execute(now, mode)
        name = rt.name
        result.executed.append(name)
        result.inputs[name] = inp
        result.outputs[name] = out
        if msg:
            result.messages[name] = msg
            self._route(name, now, msg)

    def _route(self, name: str, now: float, msg: Message) -> None:
        for dst, pairs in self.routes[name]:
            dst.deliver(pairs, now, msg)

    def stats(self) -> dict[str, FlowStats]:
        """Per-flow counters."""
        return {n: FlowStats(**rt.stats()) for n, rt in self.runtimes.items()}

    def close(self) -> None:
        """Finalize every flow (all of them, even if one fails; the first error is raised)."""
        if self.closed:
            return
        self.closed = True
        first: BaseException | None = None
        for name in self.order:
            try:
                self.runtimes[name].finalize()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first
