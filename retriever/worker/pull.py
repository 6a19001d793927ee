"""Streaming-mode pull requests: how many messages a tick takes from each stream.

A :class:`StreamPullShift` says, for one input stream, how many queued messages to drop
(``skip``) and then how many to hand over (at least ``min_pull``, at most ``max_pull``;
``None`` means no upper bound). An :class:`InputsPullOption` lists one shift per declared
input in order (plus an optional shift of the virtual input). An
:class:`InputsPullRequest` holds one or more options; the first option, in order, that
the queued messages satisfy decides the next tick.

These are plain module-level dataclasses, so a request can be passed as an init argument
of a worker flow and rebuilt in another process without pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import WorkerError


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkerError(f"{what} must be an int >= 0, got {value!r}", code="RET851")
    return value


@dataclass(frozen=True)
class StreamPullShift:
    """Skip ``skip`` queued messages of one stream, then take ``min_pull``..``max_pull``."""

    skip: int = 0
    min_pull: int = 1
    max_pull: int | None = 1

    def __post_init__(self) -> None:
        _count(self.skip, "StreamPullShift.skip")
        _count(self.min_pull, "StreamPullShift.min_pull")
        if self.max_pull is not None:
            _count(self.max_pull, "StreamPullShift.max_pull")
            if self.max_pull < self.min_pull:
                raise WorkerError(
                    f"StreamPullShift max_pull={self.max_pull} is below min_pull="
                    f"{self.min_pull}", code="RET851",
                    hint="use max_pull >= min_pull (or None for no upper bound)")

    @classmethod
    def from_fixed(cls, skip: int, min_pull: int, max_pull: int | None) -> StreamPullShift:
        """Skip ``skip`` messages, then pull between ``min_pull`` and ``max_pull``."""
        return cls(skip=skip, min_pull=min_pull, max_pull=max_pull)

    def needed(self) -> int:
        """Messages that must be queued for this shift to be satisfied."""
        return self.skip + self.min_pull

    def plan(self, available: int) -> tuple[int, int] | None:
        """``(skip, take)`` for ``available`` queued messages, or None if unsatisfied."""
        if available < self.needed():
            return None
        rest = available - self.skip
        take = rest if self.max_pull is None else min(rest, self.max_pull)
        return self.skip, take


#: The shift of synchronous mode: exactly one message per stream per tick.
ONE = StreamPullShift(0, 1, 1)


@dataclass(frozen=True, init=False)
class InputsPullOption:
    """One acceptable pull: one shift per declared input stream, in declared order."""

    shifts: tuple[StreamPullShift, ...]
    virtual_shift: StreamPullShift | None

    def __init__(self, shifts: Sequence[StreamPullShift],
                 virtual_shift: StreamPullShift | None = None) -> None:
        items = tuple(shifts)
        for s in items:
            if not isinstance(s, StreamPullShift):
                raise WorkerError(f"InputsPullOption got {s!r}, expected StreamPullShift "
                                  "items", code="RET851",
                                  hint="build shifts with StreamPullShift.from_fixed(...)")
        if virtual_shift is not None and not isinstance(virtual_shift, StreamPullShift):
            raise WorkerError(f"virtual_shift must be a StreamPullShift, got {virtual_shift!r}",
                              code="RET851")
        object.__setattr__(self, "shifts", items)
        object.__setattr__(self, "virtual_shift", virtual_shift)


@dataclass(frozen=True, init=False)
class InputsPullRequest:
    """One option or an ordered list of options; the first satisfiable one fires."""

    options: tuple[InputsPullOption, ...]

    def __init__(self, options: InputsPullOption | Sequence[InputsPullOption]) -> None:
        items = (options,) if isinstance(options, InputsPullOption) else tuple(options)
        if not items:
            raise WorkerError("InputsPullRequest needs at least one InputsPullOption",
                              code="RET851")
        for o in items:
            if not isinstance(o, InputsPullOption):
                raise WorkerError(f"InputsPullRequest got {o!r}, expected InputsPullOption",
                                  code="RET851")
        object.__setattr__(self, "options", items)

    def check_arity(self, n_inputs: int) -> None:
        """Raise unless every option lists exactly ``n_inputs`` shifts."""
        for i, o in enumerate(self.options):
            if len(o.shifts) != n_inputs:
                raise WorkerError(
                    f"pull request option {i} lists {len(o.shifts)} shift(s) but the worker "
                    f"declares {n_inputs} input stream(s)", code="RET866",
                    hint="give one StreamPullShift per declared input, in declared order")


#: A tick plan: (skip, take) per input stream, and for the virtual input (or None).
Plan = tuple[tuple[tuple[int, int], ...], tuple[int, int] | None]


def plan_option(option: InputsPullOption, available: Sequence[int],
                virtual_available: int | None) -> Plan | None:
    """The plan of ``option`` given queue lengths, or None when it is not satisfied.

    ``virtual_available`` is None when the worker has no virtual input. Without a
    ``virtual_shift`` a virtual input hands over whatever is queued (possibly nothing).
    A plan that would consume no message at all is not a tick.
    """
    parts = []
    for shift, n in zip(option.shifts, available, strict=True):
        p = shift.plan(n)
        if p is None:
            return None
        parts.append(p)
    vplan: tuple[int, int] | None = None
    if virtual_available is not None:
        if option.virtual_shift is None:
            vplan = (0, virtual_available)
        else:
            vplan = option.virtual_shift.plan(virtual_available)
            if vplan is None:
                return None
    consumed = sum(s + t for s, t in parts) + (sum(vplan) if vplan else 0)
    if consumed == 0:
        return None
    return tuple(parts), vplan


def plan_request(request: InputsPullRequest, available: Sequence[int],
                 virtual_available: int | None) -> Plan | None:
    """The plan of the first satisfiable option of ``request`` (None: none is)."""
    for option in request.options:
        p = plan_option(option, available, virtual_available)
        if p is not None:
            return p
    return None
