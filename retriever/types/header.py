"""The ``Header`` of stamped payloads (``retriever/spatial/v1/Header``)."""

from __future__ import annotations

from typing import Self

import numpy as np

from retriever.contract.envelope import io

from .checks import check_frame_id
from .errors import ShapeError
from .registry import register_type

__all__ = ["Header"]


@register_type("retriever/spatial/v1/Header")
@io
class Header:
    """Where and when: the frame the data is expressed in and its time (integer ns)."""

    frame_id: str = ""
    stamp_ns: int = 0

    def validate(self, field_name: str = "header", *, require_frame: bool = True) -> Self:
        """Check the frame id is set (when required) and the stamp is an integer."""
        if require_frame:
            check_frame_id(f"{field_name}.frame_id", self.frame_id)
        if not isinstance(self.stamp_ns, (int, np.integer)) or isinstance(self.stamp_ns, bool):
            raise ShapeError(f"{field_name}.stamp_ns", self.stamp_ns,
                             "must be an integer number of nanoseconds",
                             hint="convert seconds with round(t * 1e9)")
        return self

    @property
    def stamp_s(self) -> float:
        """The stamp in float seconds (for display and the runtime's float clocks)."""
        return self.stamp_ns / 1e9
