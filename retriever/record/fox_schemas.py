"""The JSON Schemas of the Foxglove well-known messages retriever writes (and of
``retriever.JointState``): plain Draft 2020-12 objects, no ``$ref`` and no mixed numeric
unions, so Foxglove's own schema parser and strict validators accept every one. The
converters that fill them are in :mod:`retriever.record.fox_known`."""

from __future__ import annotations

from typing import Any

import numpy as np


def _t(kind: str, description: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **more}


def _obj(title: str, description: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "title": title, "description": description,
            "properties": props, "required": list(props)}


def _time(description: str) -> dict[str, Any]:
    return _obj("time", description, {
        "sec": _t("integer", "whole seconds", minimum=0),
        "nsec": _t("integer", "nanoseconds past sec", minimum=0, maximum=999_999_999)})


def _bytes(description: str) -> dict[str, Any]:
    return _t("string", description + " (base64)", contentEncoding="base64")


def _xyz(title: str, description: str) -> dict[str, Any]:
    return _obj(title, description, {k: _t("number", k) for k in "xyz"})


def _quat(description: str) -> dict[str, Any]:
    return _obj("foxglove.Quaternion", description, {k: _t("number", k) for k in "xyzw"})


def _pose(description: str) -> dict[str, Any]:
    return _obj("foxglove.Pose", description, {
        "position": _xyz("foxglove.Vector3", "position"),
        "orientation": _quat("orientation")})


def _color(description: str) -> dict[str, Any]:
    return _obj("foxglove.Color", description,
                {k: _t("number", k, minimum=0, maximum=1) for k in "rgba"})


def _point2(description: str) -> dict[str, Any]:
    return _obj("foxglove.Point2", description, {k: _t("number", k) for k in "xy"})


def _key_values(description: str) -> dict[str, Any]:
    return _t("array", description, items=_obj("foxglove.KeyValuePair", "a key and its value",
                                               {"key": _t("string", "key"),
                                                "value": _t("string", "value")}))


def _root(name: str, description: str, props: dict[str, Any]) -> dict[str, Any]:
    out = _obj(name, description, props)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out


_STAMP = "time the data was captured (the retriever header stamp)"
_FRAME = "frame of reference"

RAW_IMAGE = _root("foxglove.RawImage", "an uncompressed image", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "width": _t("integer", "columns", minimum=0), "height": _t("integer", "rows", minimum=0),
    "encoding": _t("string", "pixel encoding (rgb8, bgr8, mono8, mono16, 32FC1, ...)"),
    "step": _t("integer", "bytes per row", minimum=0),
    "data": _bytes("pixels, row-major")})

COMPRESSED_IMAGE = _root("foxglove.CompressedImage", "an encoded image (JPEG, PNG, WebP)", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "data": _bytes("the encoded file"), "format": _t("string", "jpeg, png or webp")})

POSE_IN_FRAME = _root("foxglove.PoseInFrame", "a pose in a frame", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "pose": _pose("the pose")})


def _frame_transform(root: bool) -> dict[str, Any]:
    props = {"timestamp": _time(_STAMP),
             "parent_frame_id": _t("string", "frame the transform maps into"),
             "child_frame_id": _t("string", "frame the transform maps from"),
             "translation": _xyz("foxglove.Vector3", "translation of the child's origin"),
             "rotation": _quat("rotation of the child frame")}
    desc = "where one frame is relative to another"
    return _root("foxglove.FrameTransform", desc, props) if root else _obj(
        "foxglove.FrameTransform", desc, props)


FRAME_TRANSFORM = _frame_transform(True)
FRAME_TRANSFORMS = _root("foxglove.FrameTransforms", "several frame transforms", {
    "transforms": _t("array", "the transforms", items=_frame_transform(False))})

#: ``foxglove.PackedElementField`` numeric types used here.
UINT8, FLOAT32, FLOAT64 = 1, 7, 8
#: Their numpy dtypes (little-endian, as Foxglove reads them).
NUMERIC_DTYPES: dict[int, np.dtype[Any]] = {
    UINT8: np.dtype(np.uint8), FLOAT32: np.dtype("<f4"), FLOAT64: np.dtype("<f8")}

POINT_CLOUD = _root("foxglove.PointCloud", "points packed in a byte buffer", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "pose": _pose("origin of the points in the frame"),
    "point_stride": _t("integer", "bytes per point", minimum=0),
    "fields": _t("array", "the fields of each point", items=_obj(
        "foxglove.PackedElementField", "one field of a point", {
            "name": _t("string", "x, y, z, red, green, blue or alpha"),
            "offset": _t("integer", "byte offset in the point", minimum=0),
            "type": _t("integer", "numeric type: 1 uint8, 7 float32, 8 float64")})),
    "data": _bytes("the points, point_stride bytes each")})

_POINTS_ANNOTATION = _obj("foxglove.PointsAnnotation", "a shape drawn on an image", {
    "timestamp": _time(_STAMP),
    "type": _t("integer", "1 points, 2 line loop, 3 line strip, 4 line list"),
    "points": _t("array", "vertices in pixels", items=_point2("vertex")),
    "outline_color": _color("outline colour"),
    "outline_colors": _t("array", "per-vertex colours", items=_color("colour")),
    "fill_color": _color("fill colour"),
    "thickness": _t("number", "line width in pixels"),
    "metadata": _key_values("label, box (JSON [x, y, width, height]) and score")})

_TEXT_ANNOTATION = _obj("foxglove.TextAnnotation", "text drawn on an image", {
    "timestamp": _time(_STAMP), "position": _point2("bottom-left of the text, pixels"),
    "text": _t("string", "the text"), "font_size": _t("number", "pixels"),
    "text_color": _color("text colour"), "background_color": _color("background colour"),
    "metadata": _key_values("unused")})

IMAGE_ANNOTATIONS = _root("foxglove.ImageAnnotations", "boxes and labels over an image", {
    "timestamp": _time(_STAMP),
    "circles": _t("array", "circles (unused)", items=_obj(
        "foxglove.CircleAnnotation", "a circle", {
            "timestamp": _time(_STAMP), "position": _point2("centre"),
            "diameter": _t("number", "pixels"), "thickness": _t("number", "pixels"),
            "fill_color": _color("fill"), "outline_color": _color("outline"),
            "metadata": _key_values("unused")})),
    "points": _t("array", "one line loop per detected box", items=_POINTS_ANNOTATION),
    "texts": _t("array", "one label per detected box", items=_TEXT_ANNOTATION),
    "metadata": _key_values("frame_id of the detections")})

CAMERA_CALIBRATION = _root("foxglove.CameraCalibration", "a pinhole camera model", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "width": _t("integer", "image columns", minimum=0),
    "height": _t("integer", "image rows", minimum=0),
    "distortion_model": _t("string", "plumb_bob, rational_polynomial, ..."),
    "D": _t("array", "distortion coefficients", items=_t("number", "coefficient")),
    "K": _t("array", "3x3 intrinsics, row-major", items=_t("number", "element")),
    "R": _t("array", "3x3 rectification, row-major", items=_t("number", "element")),
    "P": _t("array", "3x4 projection, row-major", items=_t("number", "element"))})

#: Not a Foxglove schema (Foxglove has none for joints): ROS's JointState fields, so
#: Foxglove's Plot panel plots ``<topic>.position[0]`` as it would for a ROS bag.
JOINT_STATE = _root("retriever.JointState", "named joints (as ROS sensor_msgs/JointState)", {
    "timestamp": _time(_STAMP), "frame_id": _t("string", _FRAME),
    "name": _t("array", "joint names", items=_t("string", "name")),
    **{k: _t("array", f"{k} per joint", items=_t("number", k))
       for k in ("position", "velocity", "effort")},
    "metadata": _key_values("dtype and shape of an array that is not 1-D float64")})
