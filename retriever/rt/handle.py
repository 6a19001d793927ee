"""The one run-handle base every backend's handle derives from.

It owns what all handles share: the end-of-run event, error collection (every error
is kept and the caller gets the only one, or a group of all of them: never just the
first), a ``wait`` that wakes up regularly so Ctrl-C reaches the main thread, ``stop``,
live and final reports, and the exit-time cleanup of runs still going when the
interpreter exits (one registry for every backend).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any, ClassVar

from .report import FlowStats, RunReport
from .step import combine_errors

WAKE = 0.2  # seconds between wake-ups of a waiting main thread (Ctrl-C stays responsive)
_ACTIVE: weakref.WeakSet[BackgroundRun] = weakref.WeakSet()
_ACTIVE_LOCK = threading.Lock()


class BackgroundRun:
    """A run that ends on a thread of its own (see the module docs).

    Subclasses call ``super().__init__()`` first, implement :meth:`request_stop`,
    :meth:`_live_flows` and :meth:`_live_duration`, add errors with
    :meth:`_add_error`, fill ``_report`` and call :meth:`_finish` once at the end.
    """

    backend: ClassVar[str] = ""
    #: How long the exit-time cleanup waits for the run to end before forcing it.
    exit_timeout: float = 10.0

    def __init__(self) -> None:
        self._done = threading.Event()
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._report = RunReport(backend=self.backend)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)

    # ------------------------------------------------------------------ for subclasses
    def request_stop(self) -> None:
        """Ask the run to end (non-blocking)."""
        raise NotImplementedError

    def _live_flows(self) -> dict[str, FlowStats]:
        raise NotImplementedError

    def _live_duration(self) -> float:
        raise NotImplementedError

    def _force_stop(self) -> None:
        """Last resort at interpreter exit when the run did not end in time."""

    def _add_error(self, exc: BaseException) -> None:
        with self._errors_lock:
            if not any(e is exc for e in self._errors):
                self._errors.append(exc)

    @property
    def _error(self) -> BaseException | None:
        with self._errors_lock:
            return combine_errors(list(self._errors), "ended the run")

    def _finish(self) -> None:
        """Mark the run as ended (after the final report was filled in)."""
        self._report.error = self._error
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        self._done.set()

    # ------------------------------------------------------------------ RunHandle
    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        return not self._done.is_set()

    @property
    def report(self) -> RunReport:
        """Counters so far (final once the run ended)."""
        if self.running:
            self._report.flows = self._live_flows()
            self._report.duration = self._live_duration()
        return self._report

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters (for progress displays)."""
        return {n: vars(s) for n, s in self.report.flows.items()}

    def _wait_done(self, timeout: float | None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            step = WAKE if end is None else min(WAKE, end - time.monotonic())
            if step <= 0:
                return False
            self._done.wait(step)
        return True

    def wait(self, timeout: float | None = None) -> RunReport | None:
        """Wait for the end (None on timeout); raise the run's error if it failed."""
        if not self._wait_done(timeout):
            return None
        err = self._error
        if err is not None:
            raise err
        return self._report

    def stop(self) -> RunReport:
        """Stop the run (every flow is finalized), return the report; raise the run's
        error if it failed."""
        self.request_stop()
        report = self.wait(None)
        assert report is not None
        return report


def stop_all(timeout: float | None = None) -> None:
    """Stop every run still going (called at interpreter exit)."""
    with _ACTIVE_LOCK:
        runs = list(_ACTIVE)
    for run in runs:
        run.request_stop()
    for run in runs:
        if not run._wait_done(run.exit_timeout if timeout is None else timeout):
            run._force_stop()


atexit.register(stop_all)


__all__ = ["BackgroundRun", "stop_all"]
