"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` by nearest rank."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summary(values: Sequence[float]) -> str:
    """``median / p99`` formatted."""
    return f"median {statistics.median(values):.3g}  p99 {pct(values, 0.99):.3g}"


def row(label: str, value: str, baseline_label: str, baseline: str, note: str = "") -> None:
    """Print one figure next to its same-run baseline (and a note: goal, verdict)."""
    line = f"{label:<48} {value:>18}   | {baseline_label}: {baseline}"
    if note:
        line += f"   ({note})"
    print(line)
