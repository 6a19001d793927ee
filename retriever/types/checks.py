"""Validation helpers for payload values; each raises a typed error naming field and value.

The payload types call these from their ``validate()`` methods; they are public so user
types can apply the same rules with the same error codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from typing import Any

import numpy as np

from .errors import EmptyFrameError, LengthMismatchError, NonFiniteError, QuaternionNormError

__all__ = ["DEFAULT_UNIT_TOLERANCE", "check_finite", "check_frame_id", "check_lengths",
           "check_unit_norm"]

#: Largest accepted ``|norm - 1|`` of a rotation quaternion.
DEFAULT_UNIT_TOLERANCE = 1e-6


def check_finite(field: str, value: Any) -> None:
    """Raise :class:`NonFiniteError` if ``value`` (a number or array) has NaN or inf.

    For arrays the message names the first bad element, e.g. ``positions[3]``.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fc" or value.size == 0:
            return
        bad = ~np.isfinite(value)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            where = field + "".join(f"[{i}]" for i in index)
            raise NonFiniteError(where, value[index].item(), "must be a finite number",
                                 hint="replace NaN/inf before publishing, or drop the sample")
        return
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise NonFiniteError(field, value, "must be a finite number",
                             hint="replace NaN/inf before publishing, or drop the sample")


def check_unit_norm(field: str, components: Sequence[float],
                    tolerance: float = DEFAULT_UNIT_TOLERANCE) -> None:
    """Raise :class:`QuaternionNormError` unless the norm of ``components`` is 1 +- tolerance."""
    norm = math.sqrt(sum(float(c) * float(c) for c in components))
    if abs(norm - 1.0) > tolerance:
        raise QuaternionNormError(
            field, tuple(float(c) for c in components),
            f"is not a unit quaternion (norm {norm:.9g}, tolerance {tolerance:g})",
            hint="call .normalized() on it first" if norm > 0.0
            else "a zero quaternion is no rotation; use Quaternion.identity()")


def check_frame_id(field: str, frame_id: str) -> None:
    """Raise :class:`EmptyFrameError` if ``frame_id`` is empty or only whitespace."""
    if not frame_id or not frame_id.strip():
        raise EmptyFrameError(field, frame_id, "a frame id is required here",
                              hint="set the frame the data is expressed in, e.g. 'base_link'")


def check_lengths(field: str, reference: str, expected: int,
                  arrays: Sequence[tuple[str, Sized]], *, allow_empty: bool = True) -> None:
    """Raise :class:`LengthMismatchError` if an array's length differs from ``expected``.

    ``reference`` names what ``expected`` counts (e.g. ``joint_state.names``); empty
    arrays are accepted as "not provided" when ``allow_empty``.
    """
    for name, arr in arrays:
        n = len(arr)
        if n != expected and not (allow_empty and n == 0):
            raise LengthMismatchError(
                f"{field}.{name}", f"{n} values",
                f"has {n} entries but {reference} has {expected}",
                hint="give one value per joint, or leave the array empty if not measured")
