"""``JointState`` (``retriever/spatial/v1/JointState``): named joints and their readings.

The readings are float64 numpy arrays, one entry per name, so a 1,000-joint message
travels as four raw buffers rather than thousands of boxed numbers. An empty array
means "not measured" (a position-only arm leaves ``efforts`` empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from retriever.contract.envelope import io

from .checks import check_finite, check_lengths
from .errors import ShapeError
from .header import Header
from .registry import register_type

__all__ = ["JointState"]

FloatArray = npt.NDArray[np.float64]
_ARRAYS = ("positions", "velocities", "efforts")


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@register_type("retriever/spatial/v1/JointState")
@io
class JointState:
    """Positions (rad or m), velocities and efforts (N m or N) of named joints."""

    header: Header = field(default_factory=Header)
    names: list[str] = field(default_factory=list)
    positions: FloatArray = field(default_factory=_empty)
    velocities: FloatArray = field(default_factory=_empty)
    efforts: FloatArray = field(default_factory=_empty)

    def __post_init__(self) -> None:
        # Lists and tuples become float64 arrays; arrays of another dtype are kept as
        # given (validate() reports them) so that decoding never copies silently.
        for name in _ARRAYS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, np.ndarray):
                setattr(self, name, np.asarray(value, dtype=np.float64))
        if isinstance(self.names, tuple):
            self.names = list(self.names)

    @classmethod
    def make(cls, names: Sequence[str], positions: npt.ArrayLike = (),
             velocities: npt.ArrayLike = (), efforts: npt.ArrayLike = (),
             header: Header | None = None) -> Self:
        """Build from any array-likes (lists, tuples, arrays), converted to float64.

        The constructor converts lists too, but is typed for arrays; this is the
        spelling type checkers accept for plain Python sequences.
        """
        return cls(header if header is not None else Header(), list(names),
                   np.asarray(positions, dtype=np.float64),
                   np.asarray(velocities, dtype=np.float64),
                   np.asarray(efforts, dtype=np.float64))

    def __len__(self) -> int:
        """Number of joints (length of ``names``)."""
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JointState):
            return NotImplemented
        return (self.header == other.header and list(self.names) == list(other.names)
                and all(_same(getattr(self, n), getattr(other, n)) for n in _ARRAYS))

    __hash__ = None  # type: ignore[assignment]

    def validate(self, field_name: str = "joint_state", *, require_frame: bool = False,
                 finite: bool = True) -> Self:
        """Check array lengths against ``names``, dtypes, and (``finite``) NaN/inf.

        The header's frame id is optional for joint states unless ``require_frame``.
        """
        self.header.validate(f"{field_name}.header", require_frame=require_frame)
        for i, n in enumerate(self.names):
            if not isinstance(n, str) or not n:
                raise ShapeError(f"{field_name}.names[{i}]", n, "joint names must be "
                                 "non-empty strings")
        seen: set[str] = set()
        for n in self.names:
            if n in seen:
                raise ShapeError(f"{field_name}.names", n, "is listed more than once")
            seen.add(n)
        arrays = [(n, getattr(self, n)) for n in _ARRAYS]
        for name, arr in arrays:
            if arr.ndim != 1 or arr.dtype.kind != "f":
                raise ShapeError(f"{field_name}.{name}", f"{arr.dtype}{list(arr.shape)}",
                                 "must be a one-dimensional float array")
        check_lengths(field_name, f"{field_name}.names", len(self.names), arrays)
        if finite:
            for name, arr in arrays:
                check_finite(f"{field_name}.{name}", arr)
        return self

    def position_of(self, name: str) -> float:
        """The position of joint ``name`` (``KeyError`` naming the known joints)."""
        try:
            i = self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint {name!r}; joints: {', '.join(self.names)}") from None
        return float(self.positions[i])

    def as_dict(self) -> dict[str, float]:
        """``{name: position}``."""
        return dict(zip(self.names, (float(p) for p in self.positions), strict=True))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"
                                                          and b.dtype.kind == "f"))
    return bool(a == b)
