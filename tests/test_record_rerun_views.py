"""``.rrd`` files as Rerun users log them: archetypes per payload, colour models, a
blueprint, and files that `rerun rrd verify` accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever
from retriever.record import open_recording
from retriever.record.layout import port_types
from retriever.record.rerun_views import TransformTree, holds_transforms, transform_list
from retriever.types.header import Header
from retriever.types.spatial import Transform, TransformStamped, Vector3

from .vision_flows import scene, scene_pipeline

STEPS = 3


@pytest.fixture(scope="module")
def rrd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rrv") / "scene.rrd"
    pipe, _, _ = scene_pipeline()
    pipe.record(path, steps=STEPS, dt=0.1)
    return path


def _rerun_cli() -> str:
    exe = Path(sys.executable).with_name("rerun")
    found = str(exe) if exe.exists() else shutil.which("rerun")
    if found is None:
        pytest.fail("the rerun CLI (installed with rerun-sdk) is missing")
    return found


def test_rerun_verifies_the_file(rrd: Path) -> None:
    done = subprocess.run([_rerun_cli(), "rrd", "verify", str(rrd)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout


def _components(path: Path) -> dict[str, dict[str, list[Any]]]:
    from rerun.chunk import RrdReader

    out: dict[str, dict[str, list[Any]]] = {}
    for chunk in RrdReader(str(path)).stream():
        rb = chunk.to_record_batch()
        cols = out.setdefault(chunk.entity_path, {})
        for name in rb.schema.names:
            if not name.startswith("rerun.") and name not in ("step", "time", "log_time"):
                cols.setdefault(name, []).extend(rb.column(name).to_pylist())
    return out


def test_payloads_are_logged_as_their_archetypes(rrd: Path) -> None:
    import rerun as rr

    comps = _components(rrd)
    out = "/flows/sensors/out/"
    expect = {
        "image": {"Image:buffer", "Image:format"},
        "depth": {"DepthImage:buffer", "DepthImage:meter"},
        "jpeg": {"EncodedImage:blob", "EncodedImage:media_type"},
        "pose": {"Transform3D:translation", "Transform3D:quaternion",
                 "TransformAxes3D:axis_length"},
        "tf": {"Transform3D:translation", "Transform3D:quaternion"},
        "cloud": {"Points3D:positions", "Points3D:colors"},
        "dets": {"Boxes2D:half_sizes", "Boxes2D:centers", "Boxes2D:labels"},
        "calib": {"Pinhole:image_from_camera", "Pinhole:resolution"},
        "speed": {"Scalars:scalars"},
    }
    for port, names in expect.items():
        assert names <= set(comps[out + port]), (port, sorted(comps[out + port]))
    # the OpenCV frame keeps its colour model: BGR, as Rerun itself encodes it
    bgr = rr.Image(np.zeros((2, 2, 3), np.uint8), color_model="BGR")
    want = bgr.format.as_arrow_array().to_pylist()[0]["color_model"]  # type: ignore[union-attr]
    formats = [f[0] for f in comps[out + "image"]["Image:format"] if f]
    assert len(formats) == STEPS and {f["color_model"] for f in formats} == {want}
    first = scene(1)
    assert comps[out + "pose"]["Transform3D:translation"][0][0] == pytest.approx([1.0, 2.0, 3.0])
    assert comps[out + "dets"]["Boxes2D:labels"][0] == ["cup 0.88", "0.33"]
    assert comps[out + "jpeg"]["EncodedImage:media_type"][0] == ["image/jpeg"]
    assert len(comps[out + "cloud"]["Points3D:positions"][0]) == len(first.cloud)


def test_the_file_opens_with_a_blueprint_of_camera_scene_and_plots(rrd: Path) -> None:
    from rerun.chunk import RrdReader

    reader = RrdReader(str(rrd))
    [blueprint] = reader.blueprints()  # a second store in the file: the layout
    views: dict[str, str] = {}
    for chunk in reader.stream(store=blueprint):
        rb = chunk.to_record_batch()
        if "ViewBlueprint:display_name" in rb.schema.names:
            [[name]] = rb.column("ViewBlueprint:display_name").to_pylist()
            [[kind]] = rb.column("ViewBlueprint:class_identifier").to_pylist()
            views[name] = kind
    assert views == {"camera sensors/image": "2D", "camera sensors/depth": "2D",
                     "camera sensors/jpeg": "2D", "3D scene": "3D",
                     "plots sensors": "TimeSeries"}


def test_rrd_replays_the_typed_payloads_exactly(rrd: Path) -> None:
    pipe, _, _ = scene_pipeline()
    node = next(n for n in pipe.validate().nodes if n.id == "sensors")
    got = open_recording(rrd).messages("sensors", types=port_types(node, "out"))
    assert len(got) == STEPS
    for k, (_, _, m) in enumerate(got, start=1):
        want = scene(k)
        assert m["image"].encoding == "bgr8" and m["image"].header == want.image.header
        assert m["image"].data.dtype == np.uint8
        assert np.array_equal(m["image"].data, want.image.data)
        assert m["depth"].encoding == "32FC1" and m["depth"].data.dtype == np.float32
        assert np.array_equal(m["depth"].data, want.depth.data)
        assert m["cloud"].points.dtype == np.float32
        assert m["dets"] == want.dets and m["tfs"] == want.tfs


def test_images_are_stored_once_and_read_untyped_as_plain_data(rrd: Path) -> None:
    comps = _components(rrd)
    image = comps["/flows/sensors/out/image"]
    # the Image view's buffer holds the exact pixels: no second copy as a payload
    assert "retriever_payload" not in image and "retriever_image" in image
    [(_, _, first), *_] = open_recording(rrd).messages("sensors")
    assert first["image"]["encoding"] == "bgr8"
    assert first["image"]["header"] == {"frame_id": "camera", "stamp_ns": 1_000_000_123}
    assert np.array_equal(first["image"]["data"], scene(1).image.data)


def test_a_list_of_transforms_is_a_frame_tree_of_transform3d(rrd: Path) -> None:
    # list[TransformStamped] world->base (moving) and base->camera (identity): one
    # Transform3D per child frame, on entities that nest like the frames
    comps = _components(rrd)
    port = "/flows/sensors/out/tfs"
    base, camera = comps[port + "/world/base"], comps[port + "/world/base/camera"]
    steps = range(1, STEPS + 1)
    assert [t[0] for t in base["Transform3D:translation"]] == [
        pytest.approx([float(k), 0.5, -1.0]) for k in steps]
    assert [q[0] for q in base["Transform3D:quaternion"]] == [
        pytest.approx([0.0, 0.0, 0.6, 0.8])] * STEPS
    assert [t[0] for t in camera["Transform3D:translation"]] == [
        pytest.approx([0.0, 0.0, 0.0])] * STEPS
    # the port's own entity keeps the exact value, with no text view of it
    assert not any(name.startswith("TextDocument") for name in comps[port])
    # the 3D scene view takes the whole tree
    from rerun.chunk import RrdReader

    reader = RrdReader(str(rrd))
    [blueprint] = reader.blueprints()
    queries = [q for chunk in reader.stream(store=blueprint)
               if "ViewContents:query" in chunk.to_record_batch().schema.names
               for q in chunk.to_record_batch().column("ViewContents:query").to_pylist()]
    assert any(port + "/**" in q for q in queries), queries
    got = open_recording(rrd).messages("sensors")
    assert [[t["child_frame_id"] for t in m["tfs"]] for _, _, m in got] == [
        ["base", "camera"]] * STEPS


@retriever.io
class TFMessage:
    """A TF-like message: a list of transforms in a field."""

    transforms: list[TransformStamped]


def test_the_frame_tree_spans_messages_and_tf_like_messages() -> None:
    import rerun as rr

    def tf(parent: str, child: str, x: float) -> TransformStamped:
        return TransformStamped(Header(parent, 0), child, Transform(Vector3(x, 0.0, 0.0)))

    tree = TransformTree()
    first = tree.archetypes(rr, "/p", [tf("odom", "base", 1.0)])
    # a later message hangs a sensor below base, and odom below map
    later = tree.archetypes(rr, "/p", transform_list(TFMessage(
        [tf("base", "lidar", 2.0), tf("map", "odom", 3.0)])) or [])
    assert [p for p, _ in first] == ["/p/odom/base"]
    assert [p for p, _ in later] == ["/p/map/odom/base/lidar", "/p/map/odom"]
    assert holds_transforms(TFMessage) and holds_transforms(list[TransformStamped])
    assert transform_list([]) is None and transform_list([1.0]) is None


def test_vector_like_spatial_payloads_are_plotted_per_component(tmp_path: Path) -> None:
    from rerun.chunk import RrdReader

    from .vision_flows import motion, motion_pipeline

    path = tmp_path / "motion.rrd"
    pipe = motion_pipeline()
    pipe.record(path, steps=STEPS, dt=0.1)
    comps = _components(path)
    out = "/flows/mover/out/"
    names = {"velocity": ["x", "y", "z"],
             "twist": ["linear.x", "linear.y", "linear.z",
                       "angular.x", "angular.y", "angular.z"],
             "wrench": ["force.x", "force.y", "force.z", "torque.x", "torque.y", "torque.z"],
             "joints": ["shoulder", "elbow"]}
    for port, series in names.items():
        cols = comps[out + port]
        assert cols["SeriesLines:names"][0] == series, port
        assert len(cols["Scalars:scalars"]) == STEPS, port
    last = motion(STEPS)
    assert comps[out + "twist"]["Scalars:scalars"][-1] == list(last.twist.to_array())
    assert comps[out + "joints"]["Scalars:scalars"][-1] == list(last.joints.positions)
    reader = RrdReader(str(path))
    [blueprint] = reader.blueprints()
    views = [chunk.to_record_batch().column("ViewBlueprint:display_name").to_pylist()
             for chunk in reader.stream(store=blueprint)
             if "ViewBlueprint:display_name" in chunk.to_record_batch().schema.names]
    assert views == [[["plots mover"]]]
    # the exact values are still what replay reads back
    node = pipe.validate().nodes[0]
    got = open_recording(path).messages("mover", types=port_types(node, "out"))
    assert got[-1][2]["wrench"] == last.wrench and got[-1][2]["velocity"] == last.velocity
    done = subprocess.run([_rerun_cli(), "rrd", "verify", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
