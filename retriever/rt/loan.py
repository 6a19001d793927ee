"""The runtime side of loaned output arrays (``Flow.loan``), shared by every backend.

Each :class:`~retriever.rt.node.NodeRuntime` owns a :class:`LoanDesk` and installs it
on its flow. A loan is an array viewing a *pin*: a flat byte buffer from the desk's
:class:`Allocator` (a shared-memory slot on the multiprocessing backend) or, without
one, ordinary memory. numpy makes every view of the loan keep the pin as its ``base``,
which is how the desk recognises its loans in a published message and how an
allocator learns (through a weak reference) that nothing in this process still sees
the memory, so that it may be reused.

After each step :meth:`LoanDesk.settle` checks the published message before anything
is routed: a loan must be published as itself (not a view of another shape or dtype),
on the port it was loaned for, at most once, and only in the step it was loaned in.
Published loans become read-only, so a flow that kept one cannot change a frame its
subscribers are reading. A loan the step did not publish goes back to the allocator.
"""

from __future__ import annotations

import math
import traceback
import weakref
from collections.abc import Collection
from typing import Any, Protocol

import numpy as np

from retriever.contract.errors import LoanError

Message = dict[str, Any]
TRACK_PRUNE = 32  # published pins remembered before dead ones are pruned


class Allocator(Protocol):
    """Lends flat byte buffers for one flow's loans (e.g. shared-memory slots)."""

    def allocate(self, nbytes: int) -> tuple[np.ndarray, Any] | None:
        """A writable ``uint8`` buffer of ``nbytes`` and a token naming it, or None
        when none is free now (the desk then lends ordinary memory)."""
        ...

    def abandon(self, token: Any) -> None:
        """The loan of ``token`` was not published: its buffer may be reused once
        nothing references it."""
        ...


class Loan:
    """One loaned array: its port, the array, the buffer it views and the allocator's
    token for that buffer (None for ordinary memory)."""

    __slots__ = ("__weakref__", "array", "pin", "port", "published", "token")

    def __init__(self, port: str, array: np.ndarray, pin: np.ndarray, token: Any) -> None:
        self.port = port
        self.array = array
        self.pin = pin
        self.token = token
        self.published = False


class LoanDesk:
    """Hands out and checks one flow's loans (see the module docs).

    ``allocator`` is set by a backend that can lend shared memory; ``lent`` lists the
    allocator's loans published in the flow's last message (what the backend sends
    without a copy, then clears);
    ``busy`` stays False for a flow that never loaned, so its steps pay one attribute
    check.
    """

    __slots__ = ("_out", "_prune_at", "active", "allocator", "busy", "flow", "lent", "ports")

    def __init__(self, flow: str, ports: Collection[str]) -> None:
        self.flow = flow
        self.ports = frozenset(ports)
        self.allocator: Allocator | None = None
        self.active: list[Loan] = []
        self.lent: list[Loan] = []
        self.busy = False
        # published loans something still references: id(pin) -> weak reference
        self._out: dict[int, weakref.ref[np.ndarray]] = {}
        self._prune_at = TRACK_PRUNE

    def loan(self, port: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """A writable array for ``port`` (see ``Flow.loan``)."""
        if port not in self.ports:
            known = ", ".join(sorted(self.ports)) or "none"
            raise LoanError(self.flow, f"loan({port!r}): the flow has no output port "
                            f"{port!r} (output ports: {known})",
                            hint="loan for one of the flow's output ports")
        nbytes = math.prod(shape) * dtype.itemsize
        got = self.allocator.allocate(nbytes) if self.allocator is not None else None
        if got is None:
            pin, token = np.empty(nbytes, np.uint8), None
        else:
            pin, token = got
        arr = pin.view(dtype).reshape(shape)
        self.active.append(Loan(port, arr, pin, token))
        self.busy = True
        return arr

    def settle(self, msg: Message | None) -> None:
        """Check the loans in ``msg`` (the step's published message), make them
        read-only and give back the ones not published. Raises :class:`LoanError`."""
        self.lent = []
        active = self.active
        if active:
            self.active = []
            mine = {id(loan.pin): loan for loan in active}
        else:
            mine = {}
        try:
            if msg:
                for port, value in msg.items():
                    if isinstance(value, np.ndarray) and value.base is not None:
                        self._check(port, value, mine)
        finally:
            for loan in active:
                loan.array.setflags(write=False)
                loan.pin.setflags(write=False)
                if loan.published:
                    self._track(loan.pin)
                    if loan.token is not None:  # in the allocator's memory: a backend sends it
                        self.lent.append(loan)
                elif loan.token is not None and self.allocator is not None:
                    self.allocator.abandon(loan.token)

    def _check(self, port: str, value: np.ndarray, mine: dict[int, Loan]) -> None:
        key = id(value.base)
        loan = mine.get(key)
        if loan is None:
            ref = self._out.get(key)
            if ref is not None and ref() is value.base:
                raise LoanError(self.flow, f"port {port!r} published an array loaned in an "
                                "earlier step, which was already published",
                                hint="call loan() again for every step's output; copy the "
                                "array if you must publish the same data twice")
            return
        if value is not loan.array:
            raise LoanError(self.flow, f"port {port!r} published a view of a loaned array "
                            f"(shape {value.shape}, dtype {value.dtype}) instead of the loan "
                            f"itself (shape {loan.array.shape}, dtype {loan.array.dtype})",
                            hint="loan the exact shape and dtype you publish and return "
                            "that array itself")
        if loan.port != port:
            raise LoanError(self.flow, f"an array loaned for port {loan.port!r} was "
                            f"published on port {port!r}",
                            hint=f"loan it with loan({port!r}, ...)")
        if loan.published:
            raise LoanError(self.flow, f"one loaned array was published on two ports "
                            f"(again on {port!r})", hint="loan one array per port")
        loan.published = True

    def _track(self, pin: np.ndarray) -> None:
        """Remember a published pin (weakly: an id alone could be reused by a new
        array). Dead entries are pruned now and then instead of by a callback per pin."""
        out = self._out
        if len(out) >= self._prune_at:
            self._out = out = {k: r for k, r in out.items() if r() is not None}
            self._prune_at = max(TRACK_PRUNE, 2 * len(out))
        out[id(pin)] = weakref.ref(pin)


def loan_step_error(flow: str, exc: Exception) -> LoanError:
    """The error of a step that misused a loan: a :class:`LoanError` raised by
    ``loan()`` (named after the flow, with the step's traceback), or a write to a
    read-only array while the flow uses loans, which is almost always a loan kept from
    an earlier step and written after it was published."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, LoanError):
        return LoanError(flow, exc.detail, hint=exc.hint, traceback_text=tb)
    return LoanError(flow, f"step() wrote to a read-only array ({type(exc).__name__}: "
                     f"{exc}); a loaned array "
                     "is read-only once published", traceback_text=tb,
                     hint="call loan() again in every step instead of keeping the array; "
                     "arrays received from inputs are read-only too (copy them to modify)")


__all__ = ["Allocator", "Loan", "LoanDesk", "loan_step_error"]
