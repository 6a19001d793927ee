"""The one error transport between a worker process (multiprocessing or dora) and the
process that owns the run.

A worker turns an exception into an :class:`ErrorRecord` (a msgspec struct: plain
data, never pickle) and the owner rebuilds the same typed error from it: a
:class:`FlowError` or :class:`LagError` naming the flow, with the worker's traceback,
or a :class:`BackendError` for a failure that is not a flow's. The code travels with
it, so ``err.code`` and the ``[RETxxx]`` in ``str(err)`` always agree. The recording
writer process (``record/offload_writer.py``) reports its failures with the same
struct, naming the file in ``path``; the recording process rebuilds a
``RecordingError`` from it.
"""

from __future__ import annotations

import traceback
from typing import Any

import msgspec

from retriever.contract.errors import (
    BackendError,
    FlowError,
    LagError,
    LoanError,
    RetrieverError,
)

_FLOW_KINDS: dict[str, type[FlowError]] = {"FlowError": FlowError, "LagError": LagError,
                                            "LoanError": LoanError}


class ErrorRecord(msgspec.Struct, kw_only=True):
    """A transportable description of an error raised in a worker."""

    kind: str  # FlowError, LagError, or the class name of any other error
    flow: str | None = None
    message: str = ""
    hint: str = ""
    traceback: str = ""
    code: str = ""
    #: the file the error concerns ("" when none): a recording writer's failure names
    #: the file it was writing, and the owner rebuilds it with that path
    path: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> ErrorRecord:
        """Describe ``exc`` (a flow's error keeps its flow, code and traceback)."""
        if isinstance(exc, FlowError):
            kind = next((k for k, c in _FLOW_KINDS.items()
                         if c is not FlowError and isinstance(exc, c)), "FlowError")
            return cls(kind=kind, flow=exc.flow, message=exc.detail, hint=exc.hint,
                       traceback=exc.traceback_text, code=exc.code)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, RetrieverError):
            return cls(kind=type(exc).__name__, message=exc.message, hint=exc.hint,
                       traceback=tb, code=exc.code)
        return cls(kind=type(exc).__name__, message=f"{type(exc).__name__}: {exc}",
                   traceback=tb)

    def pack(self) -> dict[str, Any]:
        """Plain data for a control message or a JSON file."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    @classmethod
    def unpack(cls, data: Any) -> ErrorRecord:
        """The record :meth:`pack` described (a malformed one becomes a backend error)."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            return cls(kind="BackendError", message=f"malformed error report: {exc}")

    def rebuild(self, where: str = "") -> RetrieverError:
        """The typed error this record describes; ``where`` says which worker sent it."""
        suffix = f" [{where}]" if where else ""
        flow_cls = _FLOW_KINDS.get(self.kind)
        if flow_cls is not None and self.flow is not None:
            return flow_cls(self.flow, self.message + suffix, hint=self.hint,
                            traceback_text=self.traceback, code=self.code or None)
        where_file = f"{self.path}: " if self.path else ""
        text = f"a worker failed{suffix}: {where_file}{self.message}"
        if self.traceback:
            text += f"\n--- traceback from the worker ---\n{self.traceback.rstrip()}"
        return BackendError(text, hint=self.hint, code=self.code or None)


__all__ = ["ErrorRecord"]
