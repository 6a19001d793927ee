"""Run reports and the handle of a non-blocking run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class FlowStats:
    """Per-flow counters of a run."""

    steps: int = 0
    lag_events: int = 0
    skipped_ticks: int = 0
    #: Due ticks of a ``catch_up`` flow that were not run because the run stopped in the
    #: middle of its catch-up burst (a stop never waits for a whole burst).
    skipped_at_stop: int = 0
    dropped: int = 0
    errors: int = 0
    restarts: int = 0
    #: Input ports a flow still waits on before its first run (start-up); empty once
    #: it ran or when it waits for nothing.
    waiting_on: list[str] = field(default_factory=list)
    #: The OS scheduling the flow's process got when the run asked for one
    #: (multiprocessing ``realtime=``): e.g. ``"SCHED_FIFO 10"``, or ``"refused: ..."``
    #: with the reason (it then ran with the ordinary scheduler); empty otherwise.
    scheduling: str = ""


@dataclass
class RunReport:
    """What a run did: per-flow counters, duration, and the error that ended it."""

    backend: str
    flows: dict[str, FlowStats] = field(default_factory=dict)
    duration: float = 0.0
    error: BaseException | None = None

    def summary(self) -> str:
        """A compact multi-line text summary."""
        lines = [f"backend={self.backend} duration={self.duration:.2f}s"]
        for name, s in self.flows.items():
            rate = s.steps / self.duration if self.duration > 0 else 0.0
            lines.append(f"  {name:<24} steps={s.steps:<7} rate={rate:8.1f}/s "
                         f"lag={s.lag_events} skipped={s.skipped_ticks} dropped={s.dropped} "
                         f"errors={s.errors}")
            if s.skipped_at_stop:
                lines.append(f"  {'':<24} {s.skipped_at_stop} due tick(s) not run: the run "
                             "stopped during a catch-up")
            if s.scheduling.startswith("refused"):
                lines.append(f"  {'':<24} realtime scheduling {s.scheduling}")
            if s.waiting_on:
                lines.append(f"  {'':<24} waiting: no value yet on input port(s) "
                             f"{', '.join(s.waiting_on)}; it has not run")
        if self.error is not None:
            lines.append(f"  error: {type(self.error).__name__}: {self.error}".splitlines()[0])
        return "\n".join(lines)


class RunHandle(Protocol):
    """A running graph (what a non-blocking run returns)."""

    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        ...

    @property
    def report(self) -> RunReport:
        """Counters so far (final once the run ended)."""
        ...

    def stop(self) -> RunReport:
        """Stop the run (finalize every flow) and return the report; raises the run's
        error if it failed."""
        ...

    def wait(self, timeout: float | None = None) -> RunReport | None:
        """Wait for the run to end; None on timeout. Raises the run's error if any."""
        ...

    def stats(self) -> dict[str, Any]:
        """Live per-flow statistics for progress displays."""
        ...
