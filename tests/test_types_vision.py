"""Vision payload types: encodings, validation, and travel through a real run."""

from __future__ import annotations

import numpy as np
import pytest

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.types.errors import ShapeError
from retriever.types.registry import from_jsonable, lookup, to_jsonable
from retriever.types.vision import (
    BoundingBox,
    CameraCalibration,
    CompressedImage,
    Detections,
    Image,
)


def test_bgr_frame_keeps_its_encoding_and_converts_to_rgb() -> None:
    px = np.zeros((2, 3, 3), np.uint8)
    px[..., 0] = 200  # blue in OpenCV's order
    img = Image.from_bgr(px, "cam").validate()
    assert (img.width, img.height, img.channels, img.step) == (3, 2, 3, 9)
    assert img.encoding == "bgr8"
    assert img.to_rgb()[0, 0].tolist() == [0, 0, 200]


@pytest.mark.parametrize(("pixels", "encoding"), [
    (np.zeros((2, 2, 3), np.uint16), "rgb8"),
    (np.zeros((2, 2), np.uint8), "rgb8"),
    (np.zeros((2, 2), np.float32), "mono16"),
    (np.zeros((2, 2, 3), np.uint8), "yuv-ish"),
])
def test_image_validation_names_the_mismatch(pixels: np.ndarray, encoding: str) -> None:
    with pytest.raises(ShapeError, match="image"):
        Image.from_array(pixels, encoding).validate()


def test_other_vision_types_validate() -> None:
    with pytest.raises(ShapeError, match="format"):
        CompressedImage(data=b"x", format="gif").validate()
    with pytest.raises(ShapeError, match="negative"):
        Detections(boxes=[BoundingBox(0, 0, -1, 2)]).validate()
    cal = CameraCalibration.pinhole(500, 500, 320, 240, 640, 480).validate()
    assert cal.k.reshape(3, 3)[0, 2] == 320
    assert BoundingBox(10, 20, 4, 6).center == (12.0, 23.0)


def test_vision_types_are_registered_and_round_trip_as_json() -> None:
    assert lookup("retriever/vision/v1/Image") is Image
    dets = Detections(boxes=[BoundingBox(1, 2, 3, 4, "cup", 0.5)])
    back = from_jsonable(to_jsonable(dets), Detections)
    assert back.boxes == dets.boxes and isinstance(back.boxes[0], BoundingBox)


@io
class Frame:
    image: Image


@io
class Found:
    dets: Detections
    image: Image


class Camera(Flow[None, Frame]):
    def step(self, _: None) -> Frame:
        px = np.zeros((4, 5, 3), np.uint8)
        px[..., 2] = 255  # red, in BGR order
        return Frame(image=Image.from_bgr(px, "cam"))


class Detector(Flow[Frame, Found]):
    def step(self, inp: Frame) -> Found:
        box = BoundingBox(1, 1, 2, 2, "red", 0.9)
        return Found(dets=Detections(header=inp.image.header, boxes=[box]), image=inp.image)


class Sink(Flow[Found, None]):
    def reset(self) -> None:
        self.seen: list[Found] = []

    def step(self, inp: Found) -> None:
        self.seen.append(inp)


def test_images_and_detections_travel_through_the_stepper() -> None:
    pipe = Pipeline("vision")
    cam = Camera() @ Rate(hz=10)
    det = Detector() @ Trigger("image")
    sink = Sink() @ Trigger("dets", "image")
    pipe.connect(cam, det, sync=Latest())
    pipe.connect(det, sink, sync=Latest())
    pipe.step()
    pipe.step()
    got = sink.flow.seen[-1]
    assert got.image.encoding == "bgr8" and got.image.data[0, 0].tolist() == [0, 0, 255]
    assert got.dets.boxes[0].label == "red" and got.dets.header.frame_id == "cam"
    pipe.close_stepper()
