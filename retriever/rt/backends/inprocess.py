"""The in-process backend: the stepper driven in real time, honouring every clock.

The time source is the monotonic clock (``realtime=True``) or a logical clock advanced
by ``dt`` (``realtime=False``). In real time the thread sleeps until the next periodic
deadline the scheduler reports; a flow that falls behind never holds the run past
``duration``: the scheduler stops catching up as soon as the run should end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from retriever.ir.model import ExecutionGraph

from ..execute import register_backend
from ..handle import BackgroundRun
from ..options import flag, seconds, unknown_options
from ..report import FlowStats
from ..stepper import Stepper

FAR = float("inf")
#: Options of the in-process backend (besides ``duration`` and ``live``).
OPTIONS = ("realtime", "dt", "observers")


class InProcessRun(BackgroundRun):
    """A real-time run of the stepper on a background thread."""

    backend = "in-process"

    def __init__(self, graph: ExecutionGraph, *, duration: float | None,
                 live: Mapping[str, Any] | None = None, realtime: bool = True,
                 dt: float | None = None, observers: Any = (), **options: Any) -> None:
        super().__init__()
        where = "in-process run"
        unknown_options(options, OPTIONS, "in-process")
        self.graph = graph
        self.duration = seconds(duration, "duration", where=where, none=True)
        self.realtime = flag(realtime, "realtime", where=where)
        seconds(dt, "dt", where=where, none=True, zero=False)
        self._stopping = threading.Event()
        self._stepper = Stepper(graph.ir, live, honor_rates=True)
        self._stepper.observers.extend(observers)
        for obs in observers:
            # an observer that wants to know the stepper it watches (a recorder plans
            # which inputs its writer can rebuild) learns it before the first step
            attach = getattr(obs, "attach_stepper", None)
            if attach is not None:
                attach(self._stepper)
        self._dt = dt or min(self._stepper.default_dt(), 0.01)
        self._t0 = time.monotonic()
        self._end = FAR if duration is None else self._t0 + duration
        self._stepper.scheduler.should_stop = self._should_stop
        self._thread = threading.Thread(target=self._main, name="retriever-inprocess",
                                        daemon=True)
        self._thread.start()

    def _should_stop(self) -> bool:
        return self._stopping.is_set() or time.monotonic() >= self._end

    def _main(self) -> None:
        st = self._stepper
        try:
            if self.realtime:
                self._realtime(st)
            else:
                self._logical(st)
        except BaseException as exc:
            self._add_error(exc)
        finally:
            for err in st.scheduler.finalize_all():
                self._add_error(err)
            self._report.flows = st.stats()
            self._report.duration = time.monotonic() - self._t0
            self._finish()

    def _realtime(self, st: Stepper) -> None:
        mono, t0, end, stopping = time.monotonic, self._t0, self._end, self._stopping
        sched = st.scheduler
        while not stopping.is_set():
            wall = mono()
            if wall >= end:
                return
            st.step(now=wall - t0)
            delay = min(t0 + sched.next_due(), end) - mono()
            if delay > 0 and stopping.wait(delay if delay != FAR else None):
                return

    def _logical(self, st: Stepper) -> None:
        k = 0
        while not self._stopping.is_set() and time.monotonic() < self._end:
            logical = k * self._dt
            if self.duration is not None and logical > self.duration + 1e-9:
                return
            st.step(now=logical)
            k += 1

    def _live_flows(self) -> dict[str, FlowStats]:
        return self._stepper.stats()

    def _live_duration(self) -> float:
        return time.monotonic() - self._t0

    def request_stop(self) -> None:
        """Ask the run to end (non-blocking); flows are finalized by the run thread."""
        self._stopping.set()


register_backend("in-process", InProcessRun)


__all__ = ["InProcessRun"]
