"""Typed errors of the function-worker API (codes RET850-RET899).

``RET85x``: the worker function does not fit its declaration (signature, options).
``RET86x``: a tick returned a value of the wrong shape.
``RET87x``: ``component.yml`` is malformed or names an unknown type.
``RET88x``: virtual streams and live configuration misuse.
``RET89x``: persisted worker state cannot be read or written.
"""

from __future__ import annotations

from retriever.contract.catalogue import ERRORS
from retriever.contract.errors import RetrieverError

#: Stable codes, one per kind of mistake, with what causes it (from the catalogue).
CODES: dict[str, str] = {c: e.cause for c, e in ERRORS.items() if "RET850" <= c < "RET900"}


class WorkerError(RetrieverError):
    """A function worker does not fit its declaration or returned the wrong shape.

    ``code`` is one of :data:`CODES`; the message says what was expected.
    """

    code = "RET850"

    def __init__(self, message: str, *, code: str, hint: str = "") -> None:
        super().__init__(message, hint=hint, code=code)


class ComponentError(WorkerError):
    """``component.yml`` is malformed, unreadable or names an unknown type."""

    code = "RET870"
