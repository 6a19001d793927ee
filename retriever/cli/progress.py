"""A live progress view for runs started from the command line.

On a terminal, a status block (elapsed time and, per flow, step rate, steps, lag events,
drops and, at start-up, the inputs a flow still waits for) is drawn with rich's live
display at the bottom of the screen, and everything the run prints - its flows'
``print`` calls and log lines, from this process and from every worker process -
scrolls above it: the terminal's output and error streams are
redirected to a pipe while the run lasts (worker processes inherit it), and each line
read from the pipe is printed above the block. Nothing the flows print is lost or
overwritten. On anything else (a file, a pipe, CI) the block is printed as plain lines
once per interval. A summary follows when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from retriever.rt.report import RunReport


def _rows(stats: dict[str, Any], prev: dict[str, int], dt: float,
          total: float | None = None) -> list[tuple[str, ...]]:
    """Table rows; the rate over the last ``dt`` seconds, or over the whole run
    (``total`` seconds) for the final block."""
    rows: list[tuple[str, ...]] = []
    for name, s in stats.items():
        steps = int(s.get("steps", 0))
        if total is not None:
            rate = steps / total if total > 0 else 0.0
        else:
            rate = (steps - prev.get(name, 0)) / dt if dt > 0 else 0.0
        prev[name] = steps
        waiting = s.get("waiting_on") or []  # start-up: never let a flow starve silently
        rows.append((name, f"{rate:.1f}", str(steps), str(s.get("lag_events", 0)),
                     str(s.get("dropped", 0)), ", ".join(waiting)))
    return rows


def _lines(elapsed: float, rows: list[tuple[str, ...]]) -> list[str]:
    out = [f"elapsed {elapsed:6.1f}s"]
    for name, rate, steps, lag, dropped, waiting in rows:
        line = (f"  {name:<24} {float(rate):8.1f} steps/s  steps={steps:<7} "
                f"lag={lag:<4} dropped={dropped}")
        out.append(line + (f"  waiting for {waiting}" if waiting else ""))
    return out


def _table(elapsed: float, rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=f"elapsed {elapsed:.1f}s", title_justify="left", expand=False)
    table.add_column("flow")
    for col in ("steps/s", "steps", "lag", "dropped"):
        table.add_column(col, justify="right")
    waiting = any(row[5] for row in rows)
    if waiting:
        table.add_column("waiting for")
    for row in rows:
        table.add_row(*(row if waiting else row[:5]))
    return table


class _Capture:
    """Redirects file descriptors 1 and 2 to a pipe and hands each line to ``emit``
    (from a reader thread) until closed; ``terminal`` writes to the real output."""

    def __init__(self) -> None:
        for s in (sys.stdout, sys.stderr):
            s.flush()
        self._saved = (os.dup(1), os.dup(2))
        self.terminal: TextIO = os.fdopen(os.dup(self._saved[0]), "w", buffering=1,
                                          encoding="utf-8", errors="replace")
        read, write = os.pipe()
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self.emit: Callable[[str], None] = self._raw
        self._thread = threading.Thread(target=self._pump, name="retriever-progress-output",
                                        daemon=True)
        self._thread.start()

    def _raw(self, line: str) -> None:
        self.terminal.write(line + "\n")

    def _pump(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.emit(line.decode("utf-8", "replace").rstrip("\r"))
        if pending:
            self.emit(pending.decode("utf-8", "replace"))

    def close(self) -> None:
        """Put the real output back and print what is still in the pipe."""
        for s in (sys.stdout, sys.stderr):
            s.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        # Worker processes of an ended run closed their copies: the pipe ends here.
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            os.close(self._read)


@contextlib.contextmanager
def _captured() -> Iterator[_Capture]:
    cap = _Capture()
    try:
        yield cap
    finally:
        cap.close()


def run_with_progress(start: Callable[[], Any], *, interval: float = 0.5,
                      stream: TextIO | None = None) -> RunReport:
    """Start a run (``start()`` returns a non-blocking run handle) and show its progress
    until it ends; returns the report (raises the run's error).

    The output is redirected before ``start`` is called, so worker processes print into
    the view too.
    """
    out = stream or sys.stdout
    if not out.isatty() or (stream is not None and stream is not sys.stdout):
        return watch(start(), interval=interval, stream=out)
    with _captured() as cap:
        console = Console(file=cap.terminal, force_terminal=True)
        t0 = last = time.monotonic()
        prev: dict[str, int] = {}
        handle = start()
        live = Live(_table(0.0, []), console=console, auto_refresh=False,
                    redirect_stdout=False, redirect_stderr=False)
        with live:
            cap.emit = lambda line: console.print(Text(line), soft_wrap=True)
            try:
                while True:
                    report = handle.wait(interval)
                    now = time.monotonic()
                    rows = _rows(handle.stats(), prev, now - last,
                                 None if report is None else now - t0)
                    last = now
                    live.update(_table(now - t0, rows), refresh=True)
                    if report is not None:
                        break
            except KeyboardInterrupt:
                report = handle.stop()
    out.write("summary:\n" + report.summary() + "\n")
    out.flush()
    return report  # type: ignore[no-any-return]


def watch(handle: Any, *, interval: float = 0.5, stream: TextIO | None = None) -> RunReport:
    """Print progress as plain lines once per ``interval`` until the run ends; returns
    the report (raises the run's error). Nothing is redrawn, so nothing is overwritten;
    for the live view on a terminal use :func:`run_with_progress`."""
    out = stream or sys.stdout
    t0 = last = time.monotonic()
    prev: dict[str, int] = {}
    try:
        while True:
            report = handle.wait(interval)
            if report is not None:
                break
            now = time.monotonic()
            out.write("\n".join(_lines(now - t0, _rows(handle.stats(), prev, now - last)))
                      + "\n")
            out.flush()
            last = now
    except KeyboardInterrupt:
        report = handle.stop()
    out.write("summary:\n" + report.summary() + "\n")
    out.flush()
    return report  # type: ignore[no-any-return]
