"""What every run handle that finishes on a background thread shares."""

from __future__ import annotations

import threading

from .report import RunReport


class BackgroundRun:
    """``running`` and ``wait`` for handles whose run ends by setting ``_done``.

    Subclasses set ``_done`` (an event) and ``_error`` in ``__init__``, set the event
    when the run has ended, and implement :meth:`_final_report`.
    """

    _done: threading.Event
    _error: BaseException | None

    def _final_report(self) -> RunReport:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> RunReport | None:
        """Wait for the end (None on timeout); raise the run's error if it failed."""
        if not self._done.wait(timeout):
            return None
        if self._error is not None:
            raise self._error
        return self._final_report()
