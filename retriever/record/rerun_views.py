"""What the typed payloads look like in Rerun, and the blueprint a recording opens with.

Each vision and spatial payload is logged as the archetype Rerun users log it as:

* ``Image`` -> ``rr.Image`` with the colour model of its encoding (``bgr8`` is shown as
  BGR, so an OpenCV frame keeps its colours); ``32FC1`` / ``16UC1`` -> ``rr.DepthImage``;
* ``CompressedImage`` -> ``rr.EncodedImage``;
* ``PoseStamped``, ``TransformStamped``, ``Pose``, ``Transform`` -> ``rr.Transform3D``
  with ``rr.TransformAxes3D`` so the frame is drawn;
* a list of ``TransformStamped`` (or a TF-like message: an object whose ``transforms``
  field is one) -> one ``rr.Transform3D`` per child frame, each on an entity below the
  port's whose path follows the frame tree (``<port>/world/base/camera``), so Rerun's
  entity hierarchy draws the tree (:class:`TransformTree`);
* ``PointCloud`` -> ``rr.Points3D`` (with its colours);
* ``Detections``, ``BoundingBox`` -> ``rr.Boxes2D`` with labels;
* ``CameraCalibration`` -> ``rr.Pinhole``;
* ``Vector3``, ``Twist``, ``Wrench`` (and their ``...Stamped`` forms) and ``JointState``
  (its positions) -> ``rr.Scalars`` with one named series per component or joint
  (``rr.SeriesLines``), so they are plotted.

:func:`blueprint` lays out a camera view per image port (with the boxes drawn over it),
a 3D view of the poses, transforms and point clouds, and a time-series plot per flow of
its numeric ports; Rerun's automatic views cover the rest.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from retriever.types.joints import JointState
from retriever.types.pointcloud import PointCloud
from retriever.types.spatial import (
    Pose,
    PoseStamped,
    Transform,
    TransformStamped,
    Twist,
    TwistStamped,
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

from .layout import ChannelSpec

#: Colour model of each colour encoding.
COLOR_MODELS = {"rgb8": "RGB", "rgb16": "RGB", "8UC3": "RGB", "bgr8": "BGR", "rgba8": "RGBA",
                "rgba16": "RGBA", "bgra8": "BGRA", "mono8": "L", "8UC1": "L", "mono16": "L"}
DEPTH_ENCODINGS = {"32FC1": 1.0, "16UC1": 1000.0}  # -> units per metre
AXIS_LENGTH = 0.25  # metres: size of the drawn frame axes

_IMAGES = (Image, CompressedImage)
_SPATIAL = (PoseStamped, TransformStamped, Pose, Transform, PointCloud, CameraCalibration)
_BOXES = (Detections, BoundingBox)
_NUMBERS = (int, float, bool)
#: Payloads plotted as one series per component (see :func:`_series`).
_PLOTTED = (Vector3, Vector3Stamped, Twist, TwistStamped, Wrench, WrenchStamped, JointState)
_XYZ = ("x", "y", "z")


def _aligned(arr: Any) -> np.ndarray:
    # Arrays rebuilt in the recording writer view its receive buffer and may be
    # misaligned for their dtype; Rerun's Arrow conversion requires alignment.
    return np.require(np.asarray(arr), requirements=["C", "A"])


def _transform(rr: Any, tf: Transform) -> list[Any]:
    t, q = tf.translation, tf.rotation
    return [rr.Transform3D(translation=[t.x, t.y, t.z],
                           quaternion=rr.Quaternion(xyzw=[q.x, q.y, q.z, q.w])),
            rr.TransformAxes3D(AXIS_LENGTH)]


def _pose(rr: Any, pose: Pose) -> list[Any]:
    return _transform(rr, Transform(pose.position, pose.orientation))


def _boxes(rr: Any, boxes: list[BoundingBox]) -> list[Any]:
    return [rr.Boxes2D(mins=[[b.x, b.y] for b in boxes],
                       sizes=[[b.width, b.height] for b in boxes],
                       labels=[f"{b.label} {b.score:.2f}".strip() for b in boxes])]


def _image(rr: Any, img: Image) -> list[Any]:
    px = _aligned(img.data)
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[..., 0]
    meter = DEPTH_ENCODINGS.get(img.encoding)
    if meter is not None:
        return [rr.DepthImage(px, meter=meter)]
    model = COLOR_MODELS.get(img.encoding)
    if model is None:
        return [rr.Image(px)]
    return [rr.Image(px, color_model=model)]


def transform_list(value: Any) -> list[TransformStamped] | None:
    """The transforms of a non-empty list of ``TransformStamped``, or of a TF-like
    message (an object whose ``transforms`` field is such a list); None otherwise."""
    items = value if isinstance(value, (list, tuple)) else getattr(value, "transforms", None)
    if (isinstance(items, (list, tuple)) and items
            and all(isinstance(t, TransformStamped) for t in items)):
        return list(items)
    return None


def _frame_part(rr: Any, frame: str) -> str:
    return str(rr.escape_entity_path_part(frame or "_"))


class TransformTree:
    """Places each frame of a stream of transform lists on a Rerun entity path.

    Rerun composes transforms along the entity path: an entity's ``Transform3D`` is
    its pose in its parent entity. So a frame's entity is the chain of frame ids from
    its root down to it, below the port's entity (``<port>/world/base/camera``). Each
    frame's parent is remembered across messages, so a tree split over several
    messages (static and moving transforms, say) still nests.
    """

    def __init__(self) -> None:
        self.parents: dict[str, str] = {}

    def archetypes(self, rr: Any, entity: str,
                   tfs: list[TransformStamped]) -> list[tuple[str, list[Any]]]:
        """``(entity path, archetypes)`` of each transform, below ``entity``."""
        for tf in tfs:
            self.parents[tf.child_frame_id] = tf.header.frame_id
        out = []
        for tf in tfs:
            chain = self.chain(tf.child_frame_id)
            path = entity + "/" + "/".join(_frame_part(rr, f) for f in chain)
            out.append((path, _transform(rr, tf.transform)))
        return out

    def chain(self, frame: str) -> list[str]:
        """The frame ids from the root of ``frame``'s tree down to ``frame`` (a cycle
        stops at the first frame met twice)."""
        chain, seen = [frame], {frame}
        while (parent := self.parents.get(chain[-1])) is not None and parent not in seen:
            chain.append(parent)
            seen.add(parent)
        return chain[::-1]


def typed_archetypes(rr: Any, value: Any) -> list[Any] | None:
    """The archetypes showing a vision or spatial payload (None for other values)."""
    if isinstance(value, Image):
        return _image(rr, value)
    if isinstance(value, CompressedImage):
        return [rr.EncodedImage(contents=bytes(value.data), media_type=f"image/{value.format}")]
    if isinstance(value, PoseStamped):
        return _pose(rr, value.pose)
    if isinstance(value, TransformStamped):
        return _transform(rr, value.transform)
    if isinstance(value, Pose):
        return _pose(rr, value)
    if isinstance(value, Transform):
        return _transform(rr, value)
    if isinstance(value, PointCloud):
        colors = _aligned(value.colors) if value.colors.size else None
        return [rr.Points3D(_aligned(value.points), colors=colors)]
    if isinstance(value, Detections):
        return _boxes(rr, value.boxes)
    if isinstance(value, BoundingBox):
        return _boxes(rr, [value])
    if isinstance(value, CameraCalibration):
        k = np.asarray(value.k, dtype=np.float64).reshape(3, 3)
        return [rr.Pinhole(image_from_camera=k, resolution=[value.width, value.height])]
    if isinstance(value, _PLOTTED):
        return _series(rr, value)
    return None


def _named(prefix: str) -> list[str]:
    return [f"{prefix}.{axis}" for axis in _XYZ]


def _series(rr: Any, value: Any) -> list[Any] | None:
    """Scalars (one named series per component) of a vector-like spatial payload."""
    if isinstance(value, Vector3Stamped):
        value = value.vector
    elif isinstance(value, TwistStamped):
        value = value.twist
    elif isinstance(value, WrenchStamped):
        value = value.wrench
    if isinstance(value, Vector3):
        values, names = value.to_array(), list(_XYZ)
    elif isinstance(value, Twist):
        values, names = value.to_array(), _named("linear") + _named("angular")
    elif isinstance(value, Wrench):
        values, names = value.to_array(), _named("force") + _named("torque")
    elif isinstance(value, JointState):
        if value.positions is None:
            return None
        values = np.asarray(value.positions, dtype=np.float64).reshape(-1)
        names = list(value.names)
        if len(names) != len(values):  # validate() reports it; still plot the values
            names = [f"joint {i}" for i in range(len(values))]
        if not len(values):
            return None
    else:
        return None
    return [rr.Scalars(values), rr.SeriesLines(names=names)]


def holds_transforms(tp: Any) -> bool:
    """Whether a port of type ``tp`` carries a list of transforms (``list[
    TransformStamped]``, or a class whose ``transforms`` field is one)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple, Sequence):
        return args[:1] == (TransformStamped,)
    if origin in (typing.Union, types.UnionType):  # Optional: @io fields may be None
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and holds_transforms(rest[0])
    if isinstance(tp, type):
        try:
            field_type = typing.get_type_hints(tp).get("transforms")
        except (NameError, TypeError):
            return False
        return field_type is not None and holds_transforms(field_type)
    return False


def _kind(tp: Any) -> str | None:
    if holds_transforms(tp):
        return "tree"
    if isinstance(tp, type):
        if issubclass(tp, _IMAGES):
            return "image"
        if issubclass(tp, _BOXES):
            return "boxes"
        if issubclass(tp, _SPATIAL):
            return "3d"
        if tp in _NUMBERS or issubclass(tp, _PLOTTED):
            return "plot"
    return "plot" if set(typing.get_args(tp)) == {int, float} else None


def blueprint(rr: Any, specs: Iterable[ChannelSpec], types: Mapping[str, Any],
              entity: Any) -> Any:
    """The blueprint of a recording of ``specs`` (outputs only), or None when no port
    has a view of its own. ``entity(topic)`` gives a channel's entity path."""
    rrb = rr.blueprint
    images: list[ChannelSpec] = []
    boxes: list[str] = []
    scene: list[str] = []
    plots: dict[str, list[str]] = {}
    for spec in specs:
        if spec.side != "out":
            continue
        kind = _kind(types.get(spec.topic, Any))
        if kind == "image":
            images.append(spec)
        elif kind == "boxes":
            boxes.append(entity(spec.topic))
        elif kind == "3d":
            scene.append(entity(spec.topic))
        elif kind == "tree":  # the frames live below the port's entity
            scene.append(entity(spec.topic) + "/**")
        elif kind == "plot":
            plots.setdefault(spec.flow, []).append(entity(spec.topic))
    views: list[Any] = []
    if images:
        views.append(rrb.Vertical(*[
            rrb.Spatial2DView(name=f"camera {s.flow}/{s.port}", origin="/",
                              contents=[entity(s.topic), *boxes]) for s in images]))
    if scene:
        views.append(rrb.Spatial3DView(name="3D scene", origin="/", contents=scene))
    if plots:
        views.append(rrb.Vertical(*[rrb.TimeSeriesView(name=f"plots {flow}", origin="/",
                                                       contents=entities)
                                    for flow, entities in plots.items()]))
    if not views:
        return None
    return rrb.Blueprint(rrb.Horizontal(*views), auto_views=True, collapse_panels=False)
