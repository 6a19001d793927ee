"""Value rules (RET200) shared by the runtime constructors and the mypy plugin.

Clocks, adapters and edge configs validate their parameters with these functions, and
the mypy plugin applies the same functions to literal arguments, so a ``Rate(hz=0)`` is
reported with the same code and the same words whether Python runs it or mypy reads it.
Each function returns ``None`` for a good value, else the :class:`Diagnostic`.
"""

from __future__ import annotations

import math
import numbers

from .catalogue import RULES
from .diagnostics import Diagnostic

#: Lag policies, and the spellings accepted for them.
LAG_POLICIES: tuple[str, ...] = ("warn", "drop", "error", "catch_up")
LAG_ALIASES: dict[str, str] = {
    "panic": "error", "raise": "error", "strict": "error", "catchup": "catch_up"}
#: Aggregations of ``Window``.
WINDOW_AGGS: tuple[str, ...] = ("first", "last", "max", "min", "mean")
#: Full-queue policies of ``EdgeConfig`` (and accepted spellings).
ON_FULL: dict[str, str] = {"drop": "drop", "drop_oldest": "drop", "block": "block"}


def _bad(message: str, hint: str = "") -> Diagnostic:
    return RULES["RET200"].diag(message, hint=hint or RULES["RET200"].hint)


#: The slowest and fastest rates a clock accepts: once in about 11.6 days, and every
#: 10 microseconds (beyond that, timer and scheduling jitter exceed the period).
MIN_HZ = 1e-6
MAX_HZ = 1e5


def hz_problem(value: object, clock: str) -> Diagnostic | None:
    """A clock frequency must be a number between :data:`MIN_HZ` and :data:`MAX_HZ`."""
    # A string or a bool is a mistake, even though float() would accept it.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _bad(f"{clock}(hz={value!r}): hz must be a number, not {type(value).__name__}",
                    f"pass a number: {clock}(hz=10)")
    number = float(value)
    if not number > 0 or math.isinf(number):  # also rejects NaN
        return _bad(f"{clock}(hz={value!r}): hz must be a positive finite number",
                    "pass a frequency in hertz greater than 0, e.g. hz=10")
    if not MIN_HZ <= number <= MAX_HZ:
        return _bad(f"{clock}(hz={value!r}): hz must be between {MIN_HZ:g} and {MAX_HZ:g}",
                    "hz is runs per second: Rate(hz=30) runs every 33 ms")
    return None


def on_lag_problem(value: object) -> Diagnostic | None:
    """A lag policy must be one of :data:`LAG_POLICIES` or an alias."""
    if value is None or (isinstance(value, str) and LAG_ALIASES.get(value, value)
                         in LAG_POLICIES):
        return None
    return _bad(f"unknown on_lag policy {value!r}",
                "use one of warn, drop, error (aliases panic, raise, strict) or catch_up")


def seconds_problem(owner: str, param: str, value: object, *,
                    positive: bool = False) -> Diagnostic | None:
    """A duration in seconds: a real number ``>= 0`` (``> 0`` when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _bad(f"{owner}.{param} must be a number of seconds, got {value!r}",
                    f"pass {param}= as an int or float")
    number = float(value)
    if math.isnan(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        return _bad(f"{owner}.{param} must be {bound}, got {value!r}",
                    f"choose a {param} {bound} (seconds)")
    return None


def agg_problem(value: object) -> Diagnostic | None:
    """A ``Window`` aggregation must be one of :data:`WINDOW_AGGS`."""
    if value in WINDOW_AGGS:
        return None
    return _bad(f"Window.agg must be one of {', '.join(WINDOW_AGGS)}; got {value!r}",
                "use agg='mean' for averaging, 'last' for the newest value")


def qsize_problem(value: object) -> Diagnostic | None:
    """An edge queue size is an int ``>= 1`` (or unset)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)
                         and value >= 1):
        return None
    return _bad(f"EdgeConfig(qsize={value!r}): qsize must be an int >= 1",
                "pass qsize=1 or more, or leave it unset")


def on_full_problem(value: object) -> Diagnostic | None:
    """A full-queue policy is ``drop`` or ``block`` (or unset)."""
    if value is None or (isinstance(value, str) and value in ON_FULL):
        return None
    return _bad(f"EdgeConfig(on_full={value!r}) is not a policy",
                "use 'drop' (drop the oldest) or 'block'")
