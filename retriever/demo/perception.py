"""The perception demo: camera -> colour detector -> display.

The camera is live (OpenCV ``VideoCapture``) when one can be read, otherwise a synthetic
source draws a moving coloured disc, so the demo runs anywhere. The detector thresholds
the frame in HSV and reports the largest blob of the target colour.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from retriever.flow import Flow, io
from retriever.types.vision import BoundingBox, Image


@io
class Frame:
    """A camera image (OpenCV's BGR order, declared ``bgr8``) and its index."""

    image: Image
    index: int


@io
class Detection:
    """The detected blob: centre and area in pixels, its bounding box, the frame index."""

    found: bool
    x: float
    y: float
    area: float
    box: BoundingBox
    index: int


def synthetic_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A dark frame with a red disc moving on a circle (deterministic in ``index``)."""
    img = np.full((height, width, 3), 30, dtype=np.uint8)
    t = index / 15.0
    cx = int(width / 2 + width / 3 * math.cos(t))
    cy = int(height / 2 + height / 3 * math.sin(t))
    yy, xx = np.ogrid[:height, :width]
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= 18**2
    img[mask] = (0, 0, 220)  # BGR red
    return img


class Camera(Flow[None, Frame]):
    """Frames from a live camera (``mode="live"``), synthetic ones (``"mock"``), or the
    first that works (``"auto"``)."""

    def __init__(self, mode: str = "auto", device: int = 0, width: int = 320,
                 height: int = 240) -> None:
        self.mode = mode
        self.device = device
        self.width = width
        self.height = height

    def __lazy_init__(self) -> None:
        self.capture: Any = None
        if self.mode in ("auto", "live"):
            self.capture = _open_camera(self.device)
            if self.capture is None and self.mode == "live":
                raise RuntimeError(f"no camera could be read at device {self.device}; "
                                   "use --camera-mode mock for synthetic frames")
        self.source = "live" if self.capture is not None else "synthetic"

    def reset(self) -> None:
        self.index = 0

    def step(self, _: None) -> Frame:
        image = None
        if self.capture is not None:
            ok, image = self.capture.read()
            if not ok:
                image = None
        if image is None:
            image = synthetic_frame(self.index, self.width, self.height)
        frame = Frame(image=Image.from_bgr(image, frame_id="camera"), index=self.index)
        self.index += 1
        return frame

    def finalize(self) -> None:
        if self.capture is not None:
            self.capture.release()


def _open_camera(device: int) -> Any:
    try:
        import cv2
    except ImportError:
        return None
    cap = cv2.VideoCapture(device)
    if not cap.isOpened():
        cap.release()
        return None
    ok, _ = cap.read()
    if not ok:
        cap.release()
        return None
    return cap


class ColorDetector(Flow[Frame, Detection]):
    """Finds the largest blob of a colour (HSV hue range) in the frame."""

    def __init__(self, hue_low: int = 0, hue_high: int = 10, min_area: float = 30.0) -> None:
        self.hue_low = hue_low
        self.hue_high = hue_high
        self.min_area = min_area

    def step(self, input: Frame) -> Detection:
        if input.image is None:
            return Detection(found=False, index=input.index)
        image = _bgr(input.image)
        mask = _mask(image, self.hue_low, self.hue_high)
        area = float(mask.sum())
        if area < self.min_area:
            return Detection(found=False, area=area, index=input.index)
        ys, xs = np.nonzero(mask)
        box = BoundingBox(x=float(xs.min()), y=float(ys.min()),
                          width=float(xs.max() - xs.min() + 1),
                          height=float(ys.max() - ys.min() + 1), label="red", score=1.0)
        return Detection(found=True, x=float(xs.mean()), y=float(ys.mean()), area=area,
                         box=box, index=input.index)


def _bgr(image: Image) -> np.ndarray:
    """The pixels in BGR order (what the HSV conversion expects)."""
    if image.encoding in ("rgb8", "rgba8"):
        return np.ascontiguousarray(image.data[..., 2::-1])
    if image.encoding in ("mono8", "8UC1"):
        return np.repeat(image.data[..., None], 3, axis=2)
    return image.data[..., :3]


def _mask(image: np.ndarray, low: int, high: int) -> np.ndarray:
    try:
        import cv2
    except ImportError:
        # Without OpenCV: a red-dominance test on the BGR pixels.
        b, g, r = (image[..., i].astype(np.int16) for i in range(3))
        return ((r > 120) & (r - g > 60) & (r - b > 60)).astype(np.uint8)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    m = cv2.inRange(hsv, (low, 100, 80), (high, 255, 255))
    return (m > 0).astype(np.uint8)


class Display(Flow[Detection, None]):
    """Prints detections (every ``every``-th, and the last one on finalize)."""

    def __init__(self, every: int = 10) -> None:
        self.every = every

    def reset(self) -> None:
        self.count = 0
        self.found = 0
        self.last: Detection | None = None
        self.t0 = time.monotonic()

    def step(self, input: Detection) -> None:
        self.count += 1
        self.found += bool(input.found)
        self.last = input
        if (self.count - 1) % self.every == 0:
            print(_describe(input), flush=True)

    def finalize(self) -> None:
        if self.count:
            print(f"display: {self.count} detections received, object found in {self.found}",
                  flush=True)


def _describe(d: Detection) -> str:
    if not d.found:
        return f"frame {d.index}: no object"
    return f"frame {d.index}: red object at ({d.x:.0f}, {d.y:.0f}), area {d.area:.0f} px"
