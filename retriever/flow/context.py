"""Authoring context: the active ``with Pipeline():`` stack and diagnostic collection.

Normally an authoring mistake raises at the line that made it. The checker runs user
modules inside :func:`collecting`, where mistakes are recorded instead so that one run
reports all of them.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from retriever.contract.diagnostics import Diagnostic, Location
from retriever.contract.errors import ConfigError, ContractError

_collector: contextvars.ContextVar[list[Diagnostic] | None] = contextvars.ContextVar(
    "retriever_collector", default=None)
_local = threading.local()


_FLOW_DIR = str(Path(__file__).resolve().parent)


def _internal(code: Any) -> bool:
    # The authoring layer, and the __init__ that @dataclass generates for its classes.
    return bool(code.co_filename.startswith(_FLOW_DIR) or (
        code.co_filename == "<string>" and code.co_name == "__init__"))


def user_location() -> Location:
    """File and line of the innermost caller outside the authoring layer."""
    frame = sys._getframe(1)
    while frame is not None and _internal(frame.f_code):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Location()
    return Location(file=frame.f_code.co_filename, line=frame.f_lineno,
                    column=_column(frame))


def _column(frame: Any) -> int | None:
    """1-based column of the expression the frame is executing (None if unknown)."""
    index = frame.f_lasti // 2
    for k, pos in enumerate(frame.f_code.co_positions()):
        if k == index:
            return None if pos[2] is None else int(pos[2]) + 1
    return None


def active_stack() -> list[Any]:
    """This thread's stack of pipelines entered with ``with``."""
    stack: list[Any] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = []
        _local.stack = stack
    return stack


def active_pipeline() -> Any | None:
    """The innermost pipeline entered with ``with`` on this thread, if any."""
    stack = active_stack()
    return stack[-1] if stack else None


@contextmanager
def collecting() -> Iterator[list[Diagnostic]]:
    """Record authoring diagnostics instead of raising them, within the block."""
    found: list[Diagnostic] = []
    outer = _collector.get()
    token = _collector.set(found)
    try:
        yield found
    finally:
        _collector.reset(token)
        if outer is not None:  # nested: the enclosing collector sees them too
            outer.extend(found)


def is_collecting() -> bool:
    """Whether authoring diagnostics are being collected rather than raised."""
    return _collector.get() is not None


def report(diagnostics: Sequence[Diagnostic]) -> None:
    """Raise the diagnostics as one :class:`ContractError`, or record them."""
    if not diagnostics:
        return
    sink = _collector.get()
    if sink is None:
        raise ContractError(list(diagnostics))
    sink.extend(diagnostics)


def value_problem(diag: Diagnostic | None) -> bool:
    """Raise a bad parameter value (RET200) as :class:`ConfigError`, or record it.

    Returns True when the problem was recorded (the caller then goes on with a harmless
    stand-in value, so a checked module keeps running and every mistake is reported);
    False when there was no problem.
    """
    if diag is None:
        return False
    sink = _collector.get()
    if sink is None:
        raise ConfigError(diag.message, hint=diag.hint, code=diag.code)
    loc = user_location()
    sink.append(diag.at(file=loc.file, line=loc.line, column=loc.column))
    return True
