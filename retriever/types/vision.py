"""Vision payload types, version 1 (``retriever/vision/v1/...``).

An :class:`Image` is pixels plus what they mean: the ``encoding`` names the channel order
and sample type (``rgb8``, ``bgr8``, ``mono8``, ``mono16``, ``32FC1`` ...), so a viewer shows
an OpenCV frame (BGR) in its true colours and a depth image as depth. The encoding names are
the ones ROS 2 and Foxglove use, so recordings need no translation table.

:class:`CompressedImage` carries JPEG or PNG bytes; :class:`BoundingBox` and
:class:`Detections` are 2D boxes in pixel coordinates; :class:`CameraCalibration` holds a
pinhole model (``K``, ``D``, ``R``, ``P``) as ROS's ``CameraInfo`` does.

Like the spatial types, values are not checked on construction (that would tax every
frame); call ``validate()`` where data enters your system.
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

__all__ = ["ENCODINGS", "BoundingBox", "CameraCalibration", "CompressedImage", "Detections",
           "Image"]

_V1 = "retriever/vision/v1/"

#: Known pixel encodings: name -> (numpy dtype, channels).
ENCODINGS: dict[str, tuple[np.dtype[Any], int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "rgb16": (np.dtype(np.uint16), 3),
    "rgba16": (np.dtype(np.uint16), 4),
    "32FC1": (np.dtype(np.float32), 1),
}

#: Compressed formats a viewer can decode.
COMPRESSED_FORMATS = ("jpeg", "png", "webp")


def _empty_pixels() -> npt.NDArray[np.uint8]:
    return np.zeros((0, 0, 3), dtype=np.uint8)


@register_type(_V1 + "Image")
@io
class Image:
    """A raw image: ``data`` is ``(height, width)`` or ``(height, width, channels)``."""

    header: Header = field(default_factory=Header)
    data: npt.NDArray[Any] = field(default_factory=_empty_pixels)
    encoding: str = "rgb8"

    @classmethod
    def from_array(cls, pixels: npt.NDArray[Any], encoding: str, frame_id: str = "",
                   stamp_ns: int = 0) -> Self:
        """Wrap ``pixels`` (not copied) with their encoding, e.g. ``"bgr8"`` for OpenCV."""
        return cls(Header(frame_id, stamp_ns), pixels, encoding)

    @classmethod
    def from_bgr(cls, pixels: npt.NDArray[Any], frame_id: str = "", stamp_ns: int = 0) -> Self:
        """An OpenCV frame (``uint8`` HxWx3 in BGR order), kept as BGR."""
        return cls.from_array(pixels, "bgr8", frame_id, stamp_ns)

    @property
    def height(self) -> int:
        """Rows of pixels."""
        return int(self.data.shape[0]) if self.data.ndim >= 2 else 0

    @property
    def width(self) -> int:
        """Columns of pixels."""
        return int(self.data.shape[1]) if self.data.ndim >= 2 else 0

    @property
    def channels(self) -> int:
        """Samples per pixel."""
        return int(self.data.shape[2]) if self.data.ndim == 3 else 1

    @property
    def step(self) -> int:
        """Bytes per row of the packed image (width x channels x sample size)."""
        return self.width * self.channels * self.data.dtype.itemsize

    def validate(self, field_name: str = "image") -> Self:
        """Check the encoding is known and agrees with the array's dtype and channels."""
        known = ENCODINGS.get(self.encoding)
        if known is None:
            raise ShapeError(f"{field_name}.encoding", self.encoding, "is not a known encoding",
                             hint="use one of " + ", ".join(sorted(ENCODINGS)))
        dtype, channels = known
        if self.data.ndim not in (2, 3):
            raise ShapeError(f"{field_name}.data", f"shape {self.data.shape}",
                             "must be (height, width) or (height, width, channels)")
        if self.data.dtype != dtype or self.channels != channels:
            raise ShapeError(
                f"{field_name}.data", f"{self.data.dtype} with {self.channels} channel(s)",
                f"does not match encoding {self.encoding!r} ({dtype} x {channels})",
                hint="convert the array or declare the encoding it really has")
        return self

    def to_rgb(self) -> npt.NDArray[Any]:
        """The pixels in RGB(A) channel order (a view when no reordering is needed)."""
        if self.encoding in ("bgr8", "bgra8"):
            order = [2, 1, 0] if self.channels == 3 else [2, 1, 0, 3]
            return self.data[..., order]
        return self.data


@register_type(_V1 + "CompressedImage")
@io
class CompressedImage:
    """An encoded image file in memory: ``format`` is ``jpeg``, ``png`` or ``webp``."""

    header: Header = field(default_factory=Header)
    data: bytes = b""
    format: str = "jpeg"

    def validate(self, field_name: str = "compressed_image") -> Self:
        """Check the format is one a viewer can decode and there is data."""
        if self.format not in COMPRESSED_FORMATS:
            raise ShapeError(f"{field_name}.format", self.format, "is not a supported format",
                             hint="use one of " + ", ".join(COMPRESSED_FORMATS))
        if not self.data:
            raise ShapeError(f"{field_name}.data", "b''", "is empty")
        return self


@register_type(_V1 + "BoundingBox")
@io
class BoundingBox:
    """An axis-aligned box in pixels: top-left corner ``(x, y)`` and its size."""

    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    label: str = ""
    score: float = 1.0

    @property
    def center(self) -> tuple[float, float]:
        """The box's centre in pixels."""
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)

    def validate(self, field_name: str = "box") -> Self:
        """Check the numbers are finite and the size is not negative."""
        for name in ("x", "y", "width", "height", "score"):
            check_finite(f"{field_name}.{name}", getattr(self, name))
        if self.width < 0 or self.height < 0:
            raise ShapeError(f"{field_name}", f"{self.width}x{self.height}",
                             "has a negative size")
        return self


@register_type(_V1 + "Detections")
@io
class Detections:
    """The boxes found in one image (same frame and stamp as that image)."""

    header: Header = field(default_factory=Header)
    boxes: list[BoundingBox] = field(default_factory=list)

    def validate(self, field_name: str = "detections") -> Self:
        """Check every box."""
        for i, box in enumerate(self.boxes):
            box.validate(f"{field_name}.boxes[{i}]")
        return self


def _zeros(n: int) -> npt.NDArray[np.float64]:
    return np.zeros(n, dtype=np.float64)


@register_type(_V1 + "CameraCalibration")
@io
class CameraCalibration:
    """A pinhole camera: intrinsics ``k`` (3x3), distortion ``d``, rectification ``r`` (3x3)
    and projection ``p`` (3x4), each flattened row-major, for images of ``width x height``."""

    header: Header = field(default_factory=Header)
    width: int = 0
    height: int = 0
    distortion_model: str = "plumb_bob"
    d: npt.NDArray[np.float64] = field(default_factory=lambda: _zeros(0))
    k: npt.NDArray[np.float64] = field(default_factory=lambda: _zeros(9))
    r: npt.NDArray[np.float64] = field(default_factory=lambda: _zeros(9))
    p: npt.NDArray[np.float64] = field(default_factory=lambda: _zeros(12))

    @classmethod
    def pinhole(cls, fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                frame_id: str = "") -> Self:
        """An undistorted pinhole model from focal lengths and principal point (pixels)."""
        k = np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
        p = np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
        return cls(Header(frame_id, 0), width, height, "plumb_bob", _zeros(5), k,
                   np.eye(3).ravel(), p)

    def validate(self, field_name: str = "calibration") -> Self:
        """Check the matrix sizes."""
        for name, n in (("k", 9), ("r", 9), ("p", 12)):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,):
                raise ShapeError(f"{field_name}.{name}", f"shape {arr.shape}",
                                 f"expected shape ({n},)")
        return self
