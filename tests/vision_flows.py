"""Flows publishing every payload that has a well-known Foxglove schema (module level, so
the IR can name them)."""

from __future__ import annotations

import numpy as np

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.types.header import Header
from retriever.types.joints import JointState
from retriever.types.pointcloud import PointCloud
from retriever.types.spatial import (
    Pose,
    PoseStamped,
    Quaternion,
    Transform,
    TransformStamped,
    Twist,
    Vector3,
    Vector3Stamped,
    Wrench,
    WrenchStamped,
)
from retriever.types.vision import (
    BoundingBox,
    CameraCalibration,
    CompressedImage,
    Detections,
    Image,
)


@io
class Scene:
    image: Image
    depth: Image
    jpeg: CompressedImage
    pose: PoseStamped
    tf: TransformStamped
    tfs: list[TransformStamped]
    cloud: PointCloud
    dets: Detections
    calib: CameraCalibration
    speed: float


def bgr_frame(k: int) -> np.ndarray:
    """A 6x8 BGR frame whose top-left pixel is pure red (blue channel 0, red 255)."""
    px = np.zeros((6, 8, 3), np.uint8)
    px[..., 2] = 255
    px[1, 1] = (k % 256, 2 * k % 256, 3 * k % 256)  # any step, however long the run
    return px


def scene(k: int) -> Scene:
    """Every known payload at step ``k``."""
    stamp = 1_000_000_000 * k + 123
    tf = TransformStamped(Header("world", stamp), "base",
                          Transform(Vector3(k, 0.5, -1.0), Quaternion(0.0, 0.0, 0.6, 0.8)))
    return Scene(
        image=Image.from_bgr(bgr_frame(k), "camera", stamp),
        depth=Image.from_array(np.full((4, 5), k + 0.5, np.float32), "32FC1", "camera", stamp),
        jpeg=CompressedImage(Header("camera", stamp), b"\xff\xd8fake" + bytes([k % 256]), "jpeg"),
        pose=PoseStamped(Header("map", stamp), Pose(Vector3(1.0 * k, 2.0, 3.0),
                                                    Quaternion(0.0, 0.0, 0.0, 1.0))),
        tf=tf,
        tfs=[tf, TransformStamped(Header("base", stamp), "camera", Transform())],
        cloud=PointCloud.from_points(np.arange(12, dtype=np.float32).reshape(4, 3) + k,
                                     np.full((4, 3), 200, np.uint8), "base", stamp),
        dets=Detections(Header("camera", stamp), [
            BoundingBox(1.5 + k, 2.0, 3.25, 4.0, "cup", 0.875),
            BoundingBox(0.1, 0.2, 0.3, 0.4, "", 1 / 3)]),
        calib=CameraCalibration.pinhole(100.0, 101.0, 4.0, 3.0, 8, 6, "camera"),
        speed=0.5 * k,
    )


class Sensors(Flow[None, Scene]):
    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Scene:
        self.k += 1
        return scene(self.k)


class Sink(Flow[Scene, None]):
    def __init__(self) -> None:
        self.seen: list[Scene] = []

    def step(self, inp: Scene) -> None:
        self.seen.append(inp)


def scene_pipeline() -> tuple[Pipeline, object, object]:
    """sensors (Rate 10 Hz) -> sink (Trigger on image)."""
    pipe = Pipeline("scene")
    sensors = (Sensors() @ Rate(hz=10)).named("sensors")
    sink = (Sink() @ Trigger("image")).named("sink")
    pipe.connect(sensors, sink, sync=Latest())
    return pipe, sensors, sink


@io
class Motion:
    velocity: Vector3Stamped
    twist: Twist
    wrench: WrenchStamped
    joints: JointState
    box: BoundingBox


def motion(k: int) -> Motion:
    """Every vector-like spatial payload, and a lone box, at step ``k``."""
    return Motion(
        velocity=Vector3Stamped(Header("base", k), Vector3(1.0 * k, 2.0, 3.0)),
        twist=Twist(Vector3(0.5 * k, 0.0, 0.0), Vector3(0.0, 0.0, 0.25)),
        wrench=WrenchStamped(Header("tool", k), Wrench(Vector3(0.0, 0.0, -9.81),
                                                       Vector3(0.1 * k, 0.0, 0.0))),
        joints=JointState.make(["shoulder", "elbow"], [0.1 * k, -0.2 * k]),
        box=BoundingBox(10.0 + k, 20.0, 30.5, 40.0, "person", 0.75),
    )


class Mover(Flow[None, Motion]):
    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Motion:
        self.k += 1
        return motion(self.k)


def motion_pipeline() -> Pipeline:
    """mover (Rate 10 Hz) alone: its outputs are the vector-like payloads."""
    pipe = Pipeline("motion")
    pipe.add((Mover() @ Rate(hz=10)).named("mover"))
    return pipe
