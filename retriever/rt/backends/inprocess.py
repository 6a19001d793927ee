"""The in-process backend: the stepper driven in real time, honouring every clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from retriever.ir.model import ExecutionGraph

from ..execute import register_backend
from ..handle import BackgroundRun
from ..options import flag, seconds, unknown_options
from ..report import RunReport
from ..stepper import Stepper

#: Options of the in-process backend (besides ``duration`` and ``live``).
OPTIONS = ("realtime", "dt", "observers")


class InProcessRun(BackgroundRun):
    """A real-time run of the stepper on a background thread (or the caller's)."""

    def __init__(self, graph: ExecutionGraph, *, duration: float | None,
                 live: Mapping[str, Any] | None = None, realtime: bool = True,
                 dt: float | None = None, observers: Any = (), **options: Any) -> None:
        where = "in-process run"
        unknown_options(options, OPTIONS, "in-process")
        self.graph = graph
        self.duration = seconds(duration, "duration", where=where, none=True)
        self.realtime = flag(realtime, "realtime", where=where)
        seconds(dt, "dt", where=where, none=True, zero=False)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._report = RunReport(backend="in-process")
        self._stepper = Stepper(graph.ir, live, honor_rates=True)
        self._stepper.observers.extend(observers)
        self._dt = dt or min(self._stepper.default_dt(), 0.01)
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="retriever-inprocess",
                                        daemon=True)
        self._thread.start()

    def _main(self) -> None:
        st = self._stepper
        t0 = self._t0
        k = 0
        try:
            while not self._stop.is_set():
                logical = k * self._dt
                if self.duration is not None and logical > self.duration + 1e-9:
                    break
                if self.realtime:
                    delay = t0 + logical - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    now = time.monotonic() - t0
                else:
                    now = logical
                st.step(now=now)
                k += 1
        except BaseException as exc:
            self._error = exc
        finally:
            try:
                st.close()
            except Exception as exc:
                self._error = self._error or exc
            self._report.duration = time.monotonic() - t0
            self._report.flows = st.stats()
            self._report.error = self._error
            self._done.set()

    def _final_report(self) -> RunReport:
        return self._report

    @property
    def report(self) -> RunReport:
        """Counters so far."""
        if self.running:
            self._report.flows = self._stepper.stats()
            self._report.duration = time.monotonic() - self._t0
        return self._report

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters."""
        return {n: vars(s) for n, s in self._stepper.stats().items()}

    def stop(self) -> RunReport:
        """Stop, finalize every flow and return the report."""
        self._stop.set()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._report


register_backend("in-process", InProcessRun)
