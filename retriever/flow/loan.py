"""Loaned output arrays: the authoring side of zero-copy publishing.

``Flow.loan(port, shape, dtype)`` hands a flow a writable array to fill and return in
its output envelope. Where the array lives is the runtime's business: shared memory
that the subscribers map directly on the multiprocessing backend, plain memory on the
stepper, the in-process backend and dora. The runtime installs a :class:`LoanProvider`
on every flow it runs; a flow used outside any runtime (a unit test calling ``step``)
gets plain memory.

This module only checks what the flow asked for; the rules on what may be published
(the same port, the array itself, once) are enforced by the runtime at publish time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from retriever.contract.arrays import ENCODABLE_KINDS
from retriever.contract.errors import LoanError

#: Where the runtime installs its loan provider on a flow instance.
LOANS_ATTR = "_retriever_loans"

LoanShape = int | Sequence[int]


class LoanProvider(Protocol):
    """What a runtime gives a flow to lend arrays for its output ports."""

    def loan(self, port: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """A writable C-contiguous array of ``shape``/``dtype`` for output ``port``."""
        ...


def loan_spec(owner: str, port: str, shape: LoanShape, dtype: Any
              ) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Normalise a loan request: a tuple of non-negative ints and a dtype that can
    travel without pickle. Raises :class:`LoanError` naming ``owner`` otherwise."""
    dims = (shape,) if isinstance(shape, int | np.integer) else shape
    try:
        norm = tuple(int(d) for d in dims)
        bad = any(isinstance(d, bool | float) for d in dims) or any(d < 0 for d in norm)
    except (TypeError, ValueError):
        bad, norm = True, ()
    if bad:
        raise LoanError(owner, f"loan({port!r}) got the shape {shape!r}",
                        hint="pass the shape as non-negative ints, e.g. (480, 640, 3)")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise LoanError(owner, f"loan({port!r}) got the dtype {dtype!r}: {exc}",
                        hint="pass a numpy dtype such as np.uint8") from exc
    if dt.kind not in ENCODABLE_KINDS or dt.hasobject or dt.names is not None:
        raise LoanError(owner, f"loan({port!r}) got the dtype {dt}, which cannot be lent",
                        hint="loan plain numeric arrays (bool, int, uint, float, complex)")
    return norm, dt


def plain_loan(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A loan in ordinary memory (what a flow gets outside any runtime)."""
    return np.empty(shape, dtype)


__all__ = ["LOANS_ATTR", "LoanProvider", "LoanShape", "loan_spec", "plain_loan"]
