"""Checking the arguments of the public run/step/record calls before anything starts.

A bad argument is a :class:`ConfigError` raised by the call that received it, naming
the argument and the value, before a worker process is forked or a file is opened.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from retriever.contract.errors import ConfigError

#: The longest duration accepted (100 years: anything longer is a unit mistake).
MAX_SECONDS = 100 * 365.25 * 86400


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def seconds(value: Any, name: str, *, where: str, none: bool = False,
            zero: bool = True) -> float | None:
    """``value`` as a finite number of seconds (>= 0, or > 0 with ``zero=False``).

    ``none=True`` lets ``None`` through (meaning "no limit").
    """
    if value is None and none:
        return None
    bound = ">= 0" if zero else "> 0"
    if not _is_number(value):
        raise ConfigError(f"{where}: {name}={value!r} is not a number of seconds",
                          hint=f"pass {name}= as an int or float {bound}"
                               + (" (or None for no limit)" if none else ""))
    number = float(value)
    if math.isnan(number) or number < 0 or (not zero and number == 0) or number > MAX_SECONDS:
        raise ConfigError(f"{where}: {name}={value!r} must be a finite number of seconds "
                          f"{bound}", hint=f"pass {name}= in seconds, e.g. {name}=5.0")
    return number


def count(value: Any, name: str, *, where: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools and floats are mistakes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{where}: {name}={value!r} is not a whole number",
                          hint=f"pass {name}= as an int >= {minimum}")
    if value < minimum:
        raise ConfigError(f"{where}: {name}={value!r} must be >= {minimum}",
                          hint=f"pass {name}= as an int >= {minimum}")
    return int(value)


def flag(value: Any, name: str, *, where: str) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {name}={value!r} is not True or False")
    return value


def backend_name(value: Any, *, where: str) -> str:
    """``value`` if it is a backend name (a string)."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: backend={value!r} is not a backend name",
                          hint="pass backend='multiprocessing', 'in-process' or 'dora'")
    return value


def run_call(where: str, backend: Any, duration: Any, blocking: Any) -> None:
    """Check the arguments every ``run`` call shares."""
    backend_name(backend, where=where)
    seconds(duration, "duration", where=where, none=True)
    flag(blocking, "blocking", where=where)


def unknown_options(options: dict[str, Any], known: tuple[str, ...], backend: str) -> None:
    """Refuse options a backend does not have (a typo must not be ignored)."""
    if options:
        raise ConfigError(f"unknown {backend} option(s): {', '.join(sorted(options))}",
                          hint=f"known options: {', '.join(known)}")
