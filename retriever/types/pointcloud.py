"""Point clouds, version 1 (``retriever/spatial/v1/PointCloud``).

A :class:`PointCloud` is ``N`` points in one frame: ``points`` is an ``(N, 3)`` array of
``x, y, z`` in metres (float32 or float64), and ``colors`` is either empty or ``(N, 3)``
/ ``(N, 4)`` ``uint8`` RGB(A), one colour per point. Recordings show it as a 3D point
cloud in Foxglove and Rerun.

Like the other payload types, values are not checked on construction; call
``validate()`` where data enters your system.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from retriever.contract.envelope import io

from .checks import check_finite
from .errors import ShapeError
from .header import Header
from .registry import register_type

__all__ = ["PointCloud"]


def _no_points() -> npt.NDArray[np.float32]:
    return np.zeros((0, 3), dtype=np.float32)


def _no_colors() -> npt.NDArray[np.uint8]:
    return np.zeros((0, 3), dtype=np.uint8)


@register_type("retriever/spatial/v1/PointCloud")
@io
class PointCloud:
    """``N`` points (``(N, 3)`` float32/float64, metres) and optional ``uint8`` colours."""

    header: Header = field(default_factory=Header)
    points: npt.NDArray[Any] = field(default_factory=_no_points)
    colors: npt.NDArray[np.uint8] = field(default_factory=_no_colors)

    @classmethod
    def from_points(cls, points: npt.ArrayLike, colors: npt.ArrayLike | None = None,
                    frame_id: str = "", stamp_ns: int = 0) -> Self:
        """A cloud from ``(N, 3)`` coordinates (kept as float32 unless already float64)
        and optional ``(N, 3|4)`` colours (``uint8``)."""
        pts = np.asarray(points)
        if pts.dtype != np.float64:
            pts = pts.astype(np.float32)
        cols = _no_colors() if colors is None else np.asarray(colors, dtype=np.uint8)
        return cls(Header(frame_id, stamp_ns), pts, cols)

    def __len__(self) -> int:
        return int(self.points.shape[0]) if self.points.ndim == 2 else 0

    def validate(self, field_name: str = "cloud") -> Self:
        """Check the shapes and dtypes, and that every coordinate is finite."""
        pts = self.points
        if pts.ndim != 2 or pts.shape[1] != 3 or pts.dtype not in (np.float32, np.float64):
            raise ShapeError(f"{field_name}.points", f"{pts.dtype} shape {pts.shape}",
                             "must be (N, 3) float32 or float64")
        check_finite(f"{field_name}.points", pts)
        cols = self.colors
        if cols.size and (cols.dtype != np.uint8 or cols.ndim != 2
                          or cols.shape[1] not in (3, 4) or cols.shape[0] != pts.shape[0]):
            raise ShapeError(f"{field_name}.colors", f"{cols.dtype} shape {cols.shape}",
                             f"must be empty or ({pts.shape[0]}, 3|4) uint8")
        return self
