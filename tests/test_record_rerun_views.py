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

import retriever  # noqa: F401
from retriever.record import open_recording
from retriever.record.layout import port_types

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
