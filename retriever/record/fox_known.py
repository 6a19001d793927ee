"""Foxglove's well-known message schemas for the payload types that have one.

A port declared with one of these types is written to MCAP (and served on the Foxglove
live view) as the matching ``foxglove.*`` message in JSON, so Foxglove's image, 3D and
annotation panels show it without configuration:

=============================  ===========================
port type                      Foxglove schema
=============================  ===========================
``Image``                      ``foxglove.RawImage``
``CompressedImage``            ``foxglove.CompressedImage``
``PoseStamped``                ``foxglove.PoseInFrame``
``TransformStamped``           ``foxglove.FrameTransform``
``list[TransformStamped]``     ``foxglove.FrameTransforms``
``PointCloud``                 ``foxglove.PointCloud``
``Detections``, ``BoundingBox`` ``foxglove.ImageAnnotations``
``CameraCalibration``          ``foxglove.CameraCalibration``
``JointState``                 ``retriever.JointState`` (ROS's fields; Foxglove has none)
=============================  ===========================

Each mapping also goes back (:attr:`KnownForm.back`): from the Foxglove message to the
JSON form of the retriever value (:func:`retriever.types.registry.to_jsonable`), so
replay rebuilds the value. What a Foxglove message has no field for travels in its
``metadata`` key/value list where the schema has one (detection labels and scores, the
frame of a detection set). Single-channel images come back as ``(height, width)``
arrays; calibration matrices as flat float64 arrays.
"""

from __future__ import annotations

import base64
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from retriever.types.header import Header
from retriever.types.joints import JointState
from retriever.types.jsonable import array_to_jsonable, from_jsonable, to_jsonable
from retriever.types.pointcloud import PointCloud
from retriever.types.spatial import PoseStamped, TransformStamped
from retriever.types.vision import (
    ENCODINGS,
    BoundingBox,
    CameraCalibration,
    CompressedImage,
    Detections,
    Image,
)

from .fox_schemas import (
    CAMERA_CALIBRATION,
    COMPRESSED_IMAGE,
    FLOAT32,
    FLOAT64,
    FRAME_TRANSFORM,
    FRAME_TRANSFORMS,
    IMAGE_ANNOTATIONS,
    JOINT_STATE,
    NUMERIC_DTYPES,
    POINT_CLOUD,
    POSE_IN_FRAME,
    RAW_IMAGE,
    UINT8,
)

# ------------------------------------------------------------------------ converters


def _stamp(ns: int) -> dict[str, int]:
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def _ns(t: Any) -> int:
    return int(t["sec"]) * 1_000_000_000 + int(t["nsec"])


def _header(body: dict[str, Any], frame: str = "frame_id") -> dict[str, Any]:
    return {"frame_id": body[frame], "stamp_ns": _ns(body["timestamp"])}


def _little(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def raw_image(img: Image) -> dict[str, Any]:
    """``foxglove.RawImage`` of an :class:`Image` (ValueError when the pixels do not
    match a known encoding: the file could not give them back)."""
    known = ENCODINGS.get(img.encoding)
    px = img.data
    if known is None:
        raise ValueError(f"image encoding {img.encoding!r} is not one of "
                         f"{', '.join(sorted(ENCODINGS))}")
    channels = px.shape[2] if px.ndim == 3 else 1
    if (px.ndim not in (2, 3) or px.dtype.newbyteorder("=") != known[0].newbyteorder("=")
            or channels != known[1]):
        raise ValueError(f"a {px.dtype} image of shape {px.shape} does not match encoding "
                         f"{img.encoding!r} ({known[0]} x {known[1]})")
    px = _little(px)
    return {"timestamp": _stamp(img.header.stamp_ns), "frame_id": img.header.frame_id,
            "width": int(px.shape[1]), "height": int(px.shape[0]),
            "encoding": img.encoding, "step": int(px.shape[1]) * channels * px.itemsize,
            "data": px.reshape(-1).view(np.uint8).data}


def raw_image_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`Image` a ``foxglove.RawImage`` came from."""
    dtype, channels = ENCODINGS[body["encoding"]]
    h, w = int(body["height"]), int(body["width"])
    shape = [h, w] if channels == 1 else [h, w, channels]
    return {"header": _header(body), "encoding": body["encoding"],
            "data": {"dtype": dtype.newbyteorder("<").str if dtype.itemsize > 1
                     else dtype.str, "shape": shape, "data": body["data"]}}


def compressed_image(img: CompressedImage) -> dict[str, Any]:
    """``foxglove.CompressedImage`` of a :class:`CompressedImage`."""
    return {"timestamp": _stamp(img.header.stamp_ns), "frame_id": img.header.frame_id,
            "data": bytes(img.data), "format": img.format}


def compressed_image_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`CompressedImage`."""
    return {"header": _header(body), "data": body["data"], "format": body["format"]}


def pose_in_frame(pose: PoseStamped) -> dict[str, Any]:
    """``foxglove.PoseInFrame`` of a :class:`PoseStamped`."""
    j = to_jsonable(pose)
    return {"timestamp": _stamp(j["header"]["stamp_ns"]), "frame_id": j["header"]["frame_id"],
            "pose": j["pose"]}


def pose_in_frame_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`PoseStamped`."""
    return {"header": _header(body), "pose": body["pose"]}


def frame_transform(tf: TransformStamped) -> dict[str, Any]:
    """``foxglove.FrameTransform`` of a :class:`TransformStamped` (parent = header frame)."""
    j = to_jsonable(tf)
    return {"timestamp": _stamp(j["header"]["stamp_ns"]),
            "parent_frame_id": j["header"]["frame_id"], "child_frame_id": j["child_frame_id"],
            "translation": j["transform"]["translation"],
            "rotation": j["transform"]["rotation"]}


def frame_transform_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`TransformStamped`."""
    return {"header": _header(body, "parent_frame_id"), "child_frame_id": body["child_frame_id"],
            "transform": {"translation": body["translation"], "rotation": body["rotation"]}}


def frame_transforms(tfs: list[TransformStamped]) -> dict[str, Any]:
    """``foxglove.FrameTransforms`` of a list of transforms."""
    return {"transforms": [frame_transform(t) for t in tfs]}


def frame_transforms_back(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON form of the list of transforms."""
    return [frame_transform_back(t) for t in body["transforms"]]


_IDENTITY_POSE = {"position": {"x": 0.0, "y": 0.0, "z": 0.0},
                  "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}
_COLOR_FIELDS = ("red", "green", "blue", "alpha")


def point_cloud(cloud: PointCloud) -> dict[str, Any]:
    """``foxglove.PointCloud`` of a :class:`PointCloud`: x, y, z (and red, green, blue,
    alpha as uint8 when the cloud has colours) packed per point."""
    pts = np.asarray(cloud.points)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.dtype.kind != "f" or pts.itemsize not in (4, 8):
        raise ValueError(f"point cloud points must be (N, 3) float32 or float64, got "
                         f"{pts.dtype} shape {pts.shape}")
    cols = np.asarray(cloud.colors)
    n = pts.shape[0]
    ptype = FLOAT32 if pts.itemsize == 4 else FLOAT64
    layout: list[tuple[str, Any]] = [(k, NUMERIC_DTYPES[ptype]) for k in "xyz"]
    if cols.size:
        if cols.dtype != np.uint8 or cols.shape not in ((n, 3), (n, 4)):
            raise ValueError(f"point colours must be ({n}, 3|4) uint8, got {cols.dtype} "
                             f"shape {cols.shape}")
        layout += [(k, np.uint8) for k in _COLOR_FIELDS[:cols.shape[1]]]
    packed = np.zeros(n, dtype=np.dtype(layout))
    for i, k in enumerate("xyz"):
        packed[k] = pts[:, i]
    for i in range(cols.shape[1] if cols.size else 0):
        packed[_COLOR_FIELDS[i]] = cols[:, i]
    offsets = np.cumsum([0] + [np.dtype(d).itemsize for _, d in layout])
    fields = [{"name": name, "offset": int(offsets[i]), "type": ptype if name in "xyz" else UINT8}
              for i, (name, _) in enumerate(layout)]
    return {"timestamp": _stamp(cloud.header.stamp_ns), "frame_id": cloud.header.frame_id,
            "pose": _IDENTITY_POSE, "point_stride": int(packed.dtype.itemsize),
            "fields": fields, "data": packed.tobytes()}


def point_cloud_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`PointCloud`."""
    raw = base64.b64decode(body["data"])
    fields: dict[str, tuple[int, np.dtype[Any]]] = {
        f["name"]: (int(f["offset"]), NUMERIC_DTYPES[int(f["type"])]) for f in body["fields"]}
    dtype = np.dtype({"names": list(fields), "formats": [d for _, d in fields.values()],
                      "offsets": [o for o, _ in fields.values()],
                      "itemsize": int(body["point_stride"])})
    packed = np.frombuffer(raw, dtype=dtype)
    points = np.stack([packed[k] for k in "xyz"], axis=1) if len(packed) else np.zeros(
        (0, 3), dtype=fields["x"][1])
    names = [k for k in _COLOR_FIELDS if k in fields]
    colors = (np.stack([packed[k] for k in names], axis=1) if names and len(packed)
              else np.zeros((0, len(names) or 3), dtype=np.uint8))
    return {"header": _header(body), "points": array_to_jsonable(points),
            "colors": array_to_jsonable(np.ascontiguousarray(colors))}


_PALETTE = ((0.9, 0.2, 0.2), (0.2, 0.8, 0.3), (0.2, 0.5, 1.0), (1.0, 0.8, 0.1),
            (0.8, 0.3, 0.9), (0.1, 0.9, 0.9))


def _label_color(label: str, alpha: float = 1.0) -> dict[str, float]:
    r, g, b = _PALETTE[sum(label.encode()) % len(_PALETTE)]
    return {"r": r, "g": g, "b": b, "a": alpha}


def image_annotations(det: Detections) -> dict[str, Any]:
    """``foxglove.ImageAnnotations`` of :class:`Detections`: a line loop and a label per
    box; the exact box and score in each loop's metadata."""
    stamp = _stamp(det.header.stamp_ns)
    loops, texts = [], []
    for box in det.boxes:
        b = to_jsonable(box)
        x, y, w, h = (float(box.x), float(box.y), float(box.width), float(box.height))
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        color = _label_color(box.label)
        loops.append({
            "timestamp": stamp, "type": 2,
            "points": [{"x": cx, "y": cy} for cx, cy in corners],
            "outline_color": color, "outline_colors": [],
            "fill_color": _label_color(box.label, 0.0), "thickness": 2.0,
            "metadata": [{"key": "label", "value": box.label},
                         {"key": "box", "value": json.dumps(
                             [b["x"], b["y"], b["width"], b["height"]])},
                         {"key": "score", "value": json.dumps(b["score"])}]})
        texts.append({"timestamp": stamp, "position": {"x": x, "y": y},
                      "text": f"{box.label} {box.score:.2f}".strip(), "font_size": 12.0,
                      "text_color": {"r": 1.0, "g": 1.0, "b": 1.0, "a": 1.0},
                      "background_color": _label_color(box.label, 0.7), "metadata": []})
    return {"timestamp": stamp, "circles": [], "points": loops, "texts": texts,
            "metadata": [{"key": "frame_id", "value": det.header.frame_id}]}


#: Top-level metadata key marking annotations that hold one lone :class:`BoundingBox`.
_LONE_BOX = "retriever_box"


def box_annotations(box: BoundingBox) -> dict[str, Any]:
    """``foxglove.ImageAnnotations`` of one :class:`BoundingBox` (a port of that type):
    the annotations of a one-box detection set, marked so it reads back as the box."""
    body = image_annotations(Detections(Header(), [box]))
    body["metadata"].append({"key": _LONE_BOX, "value": "1"})
    return body


def annotations_of(value: Detections | BoundingBox) -> dict[str, Any]:
    """``foxglove.ImageAnnotations`` of a detection set or of one box. A channel is
    known to its writers by schema name only (workers of the live view), so the one
    name chooses by the value."""
    if isinstance(value, BoundingBox):
        return box_annotations(value)
    return image_annotations(value)


def image_annotations_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`Detections` (of the :class:`BoundingBox` for
    annotations written by :func:`box_annotations`)."""
    meta = {kv["key"]: kv["value"] for kv in body.get("metadata", [])}
    boxes = []
    for loop in body["points"]:
        m = {kv["key"]: kv["value"] for kv in loop.get("metadata", [])}
        x, y, w, h = json.loads(m["box"])
        boxes.append({"x": x, "y": y, "width": w, "height": h, "label": m.get("label", ""),
                      "score": json.loads(m.get("score", "1.0"))})
    if _LONE_BOX in meta and len(boxes) == 1:
        return boxes[0]
    return {"header": {"frame_id": meta.get("frame_id", ""), "stamp_ns": _ns(body["timestamp"])},
            "boxes": boxes}


def _floats(arr: Any) -> list[Any]:
    return [to_jsonable(float(v)) for v in np.asarray(arr, dtype=np.float64).reshape(-1)]


def camera_calibration(cal: CameraCalibration) -> dict[str, Any]:
    """``foxglove.CameraCalibration`` of a :class:`CameraCalibration`."""
    return {"timestamp": _stamp(cal.header.stamp_ns), "frame_id": cal.header.frame_id,
            "width": int(cal.width), "height": int(cal.height),
            "distortion_model": cal.distortion_model, "D": _floats(cal.d),
            "K": _floats(cal.k), "R": _floats(cal.r), "P": _floats(cal.p)}


def camera_calibration_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`CameraCalibration`."""
    def arr(values: list[Any]) -> dict[str, Any]:
        return array_to_jsonable(np.array([from_jsonable(v, float) for v in values],
                                          dtype=np.float64))
    return {"header": _header(body), "width": body["width"], "height": body["height"],
            "distortion_model": body["distortion_model"], "d": arr(body["D"]),
            "k": arr(body["K"]), "r": arr(body["R"]), "p": arr(body["P"])}


_JOINT_ARRAYS = (("position", "positions"), ("velocity", "velocities"), ("effort", "efforts"))


def joint_state(js: JointState) -> dict[str, Any]:
    """The ROS-like JointState message of a :class:`JointState` (see ``JOINT_STATE``)."""
    body: dict[str, Any] = {"timestamp": _stamp(js.header.stamp_ns),
                            "frame_id": js.header.frame_id, "name": list(js.names)}
    meta = []
    for key, attr in _JOINT_ARRAYS:
        arr = np.asarray(getattr(js, attr))
        body[key] = _floats(arr)
        if arr.dtype.str != "<f8" or arr.ndim != 1:  # exact replay of anything else
            meta += [{"key": f"{key}.dtype", "value": arr.dtype.str},
                     {"key": f"{key}.shape", "value": json.dumps(list(arr.shape))}]
    body["metadata"] = meta
    return body


def joint_state_back(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of the :class:`JointState`."""
    meta = {kv["key"]: kv["value"] for kv in body.get("metadata", [])}
    out: dict[str, Any] = {"header": _header(body), "names": list(body["name"])}
    for key, attr in _JOINT_ARRAYS:
        arr = np.array([from_jsonable(v, float) for v in body[key]], dtype=np.float64)
        if f"{key}.dtype" in meta:
            arr = arr.astype(meta[f"{key}.dtype"]).reshape(json.loads(meta[f"{key}.shape"]))
        out[attr] = array_to_jsonable(arr)
    return out


# ---------------------------------------------------------------------------- lookup


@dataclass(frozen=True)
class KnownForm:
    """How values of one port type are written as a Foxglove message and read back."""

    schema: dict[str, Any]
    to: Callable[[Any], Any]
    back: Callable[[dict[str, Any]], Any]

    @property
    def name(self) -> str:
        """The schema name (``foxglove.RawImage``, ...)."""
        return str(self.schema["title"])


_BY_CLASS: dict[type, KnownForm] = {
    Image: KnownForm(RAW_IMAGE, raw_image, raw_image_back),
    CompressedImage: KnownForm(COMPRESSED_IMAGE, compressed_image, compressed_image_back),
    PoseStamped: KnownForm(POSE_IN_FRAME, pose_in_frame, pose_in_frame_back),
    TransformStamped: KnownForm(FRAME_TRANSFORM, frame_transform, frame_transform_back),
    PointCloud: KnownForm(POINT_CLOUD, point_cloud, point_cloud_back),
    Detections: KnownForm(IMAGE_ANNOTATIONS, annotations_of, image_annotations_back),
    BoundingBox: KnownForm(IMAGE_ANNOTATIONS, annotations_of, image_annotations_back),
    CameraCalibration: KnownForm(CAMERA_CALIBRATION, camera_calibration,
                                 camera_calibration_back),
    JointState: KnownForm(JOINT_STATE, joint_state, joint_state_back),
}
_TRANSFORMS = KnownForm(FRAME_TRANSFORMS, frame_transforms, frame_transforms_back)
#: Schema name -> form, for reading.
BY_NAME: dict[str, KnownForm] = {f.name: f for f in (*_BY_CLASS.values(), _TRANSFORMS)}


def known_form(tp: Any) -> KnownForm | None:
    """The Foxglove form of a port declared as ``tp`` (None: no well-known schema)."""
    if isinstance(tp, type):
        return _BY_CLASS.get(tp)
    if typing.get_origin(tp) is list and typing.get_args(tp) == (TransformStamped,):
        return _TRANSFORMS
    return None
