"""A live progress view for runs started from the command line.

Shows elapsed time and, per flow, step rate, lag events and drops; redrawn in place on
a terminal, printed once per interval otherwise; a summary when the run ends.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from retriever.rt.report import RunReport


def _table(stats: dict[str, Any], elapsed: float, prev: dict[str, int], dt: float) -> list[str]:
    lines = [f"elapsed {elapsed:6.1f}s"]
    for name, s in stats.items():
        steps = int(s.get("steps", 0))
        rate = (steps - prev.get(name, 0)) / dt if dt > 0 else 0.0
        prev[name] = steps
        line = (f"  {name:<24} {rate:8.1f} steps/s  steps={steps:<7} "
                f"lag={s.get('lag_events', 0):<4} dropped={s.get('dropped', 0)}")
        waiting = s.get("waiting_on") or []
        if waiting:  # start-up: never let a flow starve silently
            line += f"  waiting for {', '.join(waiting)}"
        lines.append(line)
    return lines


def watch(handle: Any, *, interval: float = 0.5, stream: TextIO | None = None) -> RunReport:
    """Show progress until the run ends; returns the report (raises the run's error)."""
    out = stream or sys.stdout
    tty = out.isatty()
    t0 = last = time.monotonic()
    prev: dict[str, int] = {}
    drawn = 0
    try:
        while True:
            report = handle.wait(interval)
            if report is not None:
                break
            now = time.monotonic()
            lines = _table(handle.stats(), now - t0, prev, now - last)
            last = now
            if tty and drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")
            out.write("\n".join(lines) + "\n")
            out.flush()
            drawn = len(lines)
    except KeyboardInterrupt:
        report = handle.stop()
    out.write("summary:\n" + report.summary() + "\n")
    out.flush()
    return report  # type: ignore[no-any-return]
