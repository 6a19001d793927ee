"""The in-process stepper: deterministic, single-threaded, debugger friendly.

The stepper is a time source for :class:`retriever.rt.step.Scheduler`: each
:meth:`Stepper.step` advances a logical clock and asks the scheduler for one pass in
dependency order. By default every periodic flow runs on every step (lockstep); with
``honor_rates=True`` periodic flows run only when their period is due (used by
``backend="in-process"`` runs). ``Trigger`` flows run when one of their fields received
a message since their last run, including messages published earlier in the same step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from retriever.ir.model import IR

from .node import NodeRuntime
from .report import FlowStats
from .step import ReplaySource, Scheduler, ScheduleResult

#: What one step did (the stepper's name for :class:`ScheduleResult`).
StepResult = ScheduleResult

__all__ = ["ReplaySource", "StepResult", "Stepper"]


class Stepper:
    """Runs an IR in this process, one logical step at a time."""

    def __init__(self, ir: IR, live: Mapping[str, Any] | None = None, *,
                 honor_rates: bool = False, start: float = 0.0) -> None:
        self.ir = ir
        self.scheduler = Scheduler(ir, live=live, start=start, collect=True)
        self.order = self.scheduler.order
        self.runtimes: dict[str, NodeRuntime] = self.scheduler.runtimes
        self.replay: dict[str, ReplaySource] = self.scheduler.replay
        self.honor_rates = honor_rates
        self.now: float | None = None
        self.observers: list[Callable[[StepResult], None]] = []

    @property
    def index(self) -> int:
        """How many steps ran."""
        return self.scheduler.index

    @property
    def closed(self) -> bool:
        """Whether the flows were finalized."""
        return self.scheduler.finalized

    def default_dt(self) -> float:
        """The smallest period among periodic flows (0.1 s when there is none)."""
        periods = self.scheduler.periods()
        return min(periods) if periods else 0.1

    def step(self, dt: float | None = None, now: float | None = None) -> StepResult:
        """Advance one step (``now`` wins over ``dt``) and return what happened."""
        if now is None:
            now = 0.0 if self.now is None else self.now + (dt if dt is not None
                                                           else self.default_dt())
        self.now = now
        result = self.scheduler.tick(now, lockstep=not self.honor_rates)
        assert result is not None
        for obs in self.observers:
            obs(result)
        return result

    def stats(self) -> dict[str, FlowStats]:
        """Per-flow counters."""
        return {n: FlowStats(**s) for n, s in self.scheduler.stats().items()}

    def close(self) -> None:
        """Finalize every flow, even if some fail; raise the failure (a group of every
        failure when several flows failed)."""
        self.scheduler.close()
