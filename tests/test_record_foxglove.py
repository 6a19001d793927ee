"""MCAP files as Foxglove reads them: chunks, compression, well-known schemas, and JSON
Schemas its parser accepts. Checked with the real readers (``mcap``), Foxglove's own SDK
definitions (``foxglove-sdk``) and a strict Draft 2020-12 validator (``jsonschema``)."""

from __future__ import annotations

import base64
import inspect
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever  # noqa: F401
from retriever.flow import Flow, Pipeline, Rate
from retriever.record import (
    RecordConfig,
    RecordingError,
    TruncatedRecordingWarning,
    open_recording,
)
from retriever.record.layout import port_types
from retriever.types.vision import Image

from .test_record_support import emit_pipeline
from .vision_flows import Motion, Scene, motion, motion_pipeline, scene, scene_pipeline

STEPS = 4


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fox")
    pipe, _, _ = scene_pipeline()
    pipe.record(RecordConfig(path=tmp / "scene.mcap", mirrors=(tmp / "scene.rrd",)),
                steps=STEPS, dt=0.1)
    emit, _, _ = emit_pipeline()
    emit.record(tmp / "emit.mcap", steps=3, dt=0.1)
    motion_pipeline().record(tmp / "motion.mcap", steps=STEPS, dt=0.1)
    return {"scene": tmp / "scene.mcap", "rrd": tmp / "scene.rrd", "emit": tmp / "emit.mcap",
            "motion": tmp / "motion.mcap"}


def _summary(path: Path) -> Any:
    from mcap.reader import make_reader

    with open(path, "rb") as fh:
        return make_reader(fh).get_summary()


def _messages(path: Path) -> dict[str, list[tuple[Any, Any, dict[str, Any]]]]:
    from mcap.reader import make_reader

    out: dict[str, list[tuple[Any, Any, dict[str, Any]]]] = {}
    with open(path, "rb") as fh:
        for schema, channel, message in make_reader(fh).iter_messages():
            out.setdefault(channel.topic, []).append((schema, message, json.loads(message.data)))
    return out


def test_mcap_is_chunked_compressed_and_indexed(files: dict[str, Path]) -> None:
    summary = _summary(files["scene"])
    assert summary.chunk_indexes, "no chunk index"
    assert {c.compression for c in summary.chunk_indexes} == {"zstd"}
    assert all(c.compressed_size < c.uncompressed_size for c in summary.chunk_indexes)
    assert all(c.message_index_offsets for c in summary.chunk_indexes)
    stats = summary.statistics
    assert stats.chunk_count == len(summary.chunk_indexes)
    assert stats.message_count == sum(stats.channel_message_counts.values()) > 0
    assert summary.schemas and summary.channels  # repeated in the summary section
    # the indexed reader (what Foxglove and `rerun mcap convert` use) finds every message
    assert sum(len(v) for v in _messages(files["scene"]).values()) == stats.message_count


def test_log_time_is_wall_clock(files: dict[str, Path]) -> None:
    rec = open_recording(files["scene"])
    origin = rec.meta["log_time_origin_ns"]
    assert abs(origin - time.time_ns()) < 600e9  # today, not 1970
    stats = _summary(files["scene"]).statistics
    assert stats.message_start_time == origin
    assert stats.message_end_time == origin + round((STEPS - 1) * 0.1e9)
    assert rec.time_span == pytest.approx((0.0, (STEPS - 1) * 0.1))


_FOXGLOVE = {  # port -> the well-known schema its type maps to
    "image": "RawImage", "depth": "RawImage", "jpeg": "CompressedImage",
    "pose": "PoseInFrame", "tf": "FrameTransform", "tfs": "FrameTransforms",
    "cloud": "PointCloud", "dets": "ImageAnnotations", "calib": "CameraCalibration"}


def _sdk_fields(name: str) -> set[str]:
    """The fields of a message as Foxglove's own SDK defines it."""
    messages = pytest.importorskip("foxglove.messages")
    return set(inspect.signature(getattr(messages, name)).parameters)


def test_known_payloads_use_foxglove_schemas_and_fields(files: dict[str, Path]) -> None:
    msgs = _messages(files["scene"])
    for port, name in _FOXGLOVE.items():
        schema, message, body = msgs[f"/flows/sensors/out/{port}"][0]
        assert schema.name == f"foxglove.{name}" and schema.encoding == "jsonschema"
        doc = json.loads(schema.data)
        assert set(body) == set(doc["properties"]) == _sdk_fields(name), port
    first = scene(1)
    _, _, raw = msgs["/flows/sensors/out/image"][0]
    assert (raw["width"], raw["height"], raw["encoding"], raw["step"]) == (8, 6, "bgr8", 24)
    assert base64.b64decode(raw["data"]) == first.image.data.tobytes()  # BGR stays BGR
    assert raw["frame_id"] == "camera"
    assert raw["timestamp"] == {"sec": 1, "nsec": 123}
    _, _, depth = msgs["/flows/sensors/out/depth"][0]
    assert (depth["encoding"], depth["step"]) == ("32FC1", 20)
    _, _, pose = msgs["/flows/sensors/out/pose"][0]
    assert pose["pose"]["position"] == {"x": 1.0, "y": 2.0, "z": 3.0}
    assert set(pose["pose"]["orientation"]) == _sdk_fields("Quaternion")
    _, _, tf = msgs["/flows/sensors/out/tf"][0]
    assert (tf["parent_frame_id"], tf["child_frame_id"]) == ("world", "base")
    assert set(tf["translation"]) == _sdk_fields("Vector3")
    _, _, tfs = msgs["/flows/sensors/out/tfs"][0]
    assert [t["child_frame_id"] for t in tfs["transforms"]] == ["base", "camera"]
    _, _, cloud = msgs["/flows/sensors/out/cloud"][0]
    assert [f["name"] for f in cloud["fields"]] == ["x", "y", "z", "red", "green", "blue"]
    assert set(cloud["fields"][0]) == _sdk_fields("PackedElementField")
    assert cloud["point_stride"] == 15 and len(base64.b64decode(cloud["data"])) == 4 * 15
    _, _, dets = msgs["/flows/sensors/out/dets"][0]
    assert len(dets["points"]) == len(dets["texts"]) == 2
    assert set(dets["points"][0]) == _sdk_fields("PointsAnnotation")
    assert set(dets["texts"][0]) == _sdk_fields("TextAnnotation")
    assert dets["points"][0]["points"][0] == {"x": 2.5, "y": 2.0}
    _, _, calib = msgs["/flows/sensors/out/calib"][0]
    assert calib["K"] == [100.0, 0.0, 4.0, 0.0, 101.0, 3.0, 0.0, 0.0, 1.0]


def test_known_payloads_replay_exactly(files: dict[str, Path]) -> None:
    pipe, sensors, _ = scene_pipeline()
    types = port_types(next(n for n in pipe.validate().nodes if n.id == "sensors"), "out")
    rec = open_recording(files["scene"])
    got = rec.messages("sensors", types=types)
    assert len(got) == STEPS
    for k, (_, _, m) in enumerate(got, start=1):
        want = scene(k)
        for port in Scene.__dataclass_fields__:
            a, b = m[port], getattr(want, port)
            assert _same(a, b), (port, a, b)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f))
                                          for f in a.__dataclass_fields__)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _foxglove_parses(schema: dict[str, Any], where: str = "") -> None:
    """The rules of Foxglove's JSON Schema parser (mcap-support parseJsonSchema)."""
    assert schema.get("type") == "object", where
    assert isinstance(schema.get("properties"), dict), where
    for name, field in schema["properties"].items():
        at = f"{where}.{name}"
        kind = field.get("type")
        assert isinstance(kind, str), f"{at}: type {kind!r}"
        assert kind in ("boolean", "string", "number", "integer", "object", "array"), at
        if kind == "string":
            assert field.get("contentEncoding") in (None, "base64"), at
        elif kind == "object":
            _foxglove_parses(field, at)
        elif kind == "array":
            item = field["items"]
            assert item.get("type") in ("boolean", "string", "number", "integer", "object"), at
            if item["type"] == "string":
                assert "contentEncoding" not in item, at
            if item["type"] == "object":
                _foxglove_parses(item, at + "[]")


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.parametrize("key", ["scene", "emit", "motion"])
def test_every_channel_schema_is_strict_and_foxglove_parses_it(files: dict[str, Path],
                                                               key: str) -> None:
    from jsonschema import Draft202012Validator

    summary = _summary(files[key])
    messages = _messages(files[key])
    for channel in summary.channels.values():
        doc = json.loads(summary.schemas[channel.schema_id].data)
        Draft202012Validator.check_schema(doc)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        for node in _walk(doc):
            assert "$ref" not in node and "$defs" not in node, channel.topic
            assert "anyOf" not in node and "oneOf" not in node, channel.topic
            assert not isinstance(node.get("type"), list), channel.topic
        _foxglove_parses(doc, channel.topic)
        validator = Draft202012Validator(doc)
        for _, _, body in messages.get(channel.topic, []):
            if "NaN" in json.dumps(body) or "Infinity" in json.dumps(body):
                continue  # non-finite floats are strings in a number field (documented)
            errors = list(validator.iter_errors(body))
            assert not errors, (channel.topic, errors[0].message)


def test_cut_off_chunked_file_replays_its_complete_chunks(tmp_path: Path) -> None:
    pipe, _, _ = scene_pipeline()
    path = tmp_path / "cut.mcap"
    pipe.record(RecordConfig(path=path, flush_every_step=True), steps=6, dt=0.1)
    chunks = sorted(_summary(path).chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(chunks) == 6  # one chunk per step with flush_every_step
    third = chunks[3]
    cut = tmp_path / "cut_mid_chunk.mcap"
    with open(path, "rb") as src:
        cut.write_bytes(src.read(third.chunk_start_offset + third.chunk_length // 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(cut)
    assert rec.truncated and any(issubclass(w.category, TruncatedRecordingWarning)
                                 for w in caught)
    assert [s for s, _, _ in rec.messages("sensors")] == [0, 1, 2]
    whole = tmp_path / "whole.mcap"
    shutil.copyfile(path, whole)
    assert [s for s, _, _ in open_recording(whole).messages("sensors")] == list(range(6))



class LyingCamera(Flow[None, Scene]):
    """Publishes a float64 image that claims to be rgb8."""

    def step(self, _: None) -> Scene:
        out = scene(1)
        out.image = Image(out.image.header, np.zeros((2, 2), np.float64), "rgb8")
        return out


def test_an_image_that_contradicts_its_encoding_is_refused_by_name(tmp_path: Path) -> None:
    pipe = Pipeline("bad_image")
    pipe.add((LyingCamera() @ Rate(hz=10)).named("cam"))
    with pytest.raises(RecordingError) as info:
        pipe.record(RecordConfig(path=tmp_path / "bad.mcap", writer="inline"), steps=1, dt=0.1)
    assert info.value.code == "RET809" and "/flows/cam/out/image" in info.value.message
    assert "does not match encoding 'rgb8'" in info.value.message


def test_rerun_reads_the_mcap_through_its_index(files: dict[str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    rerun = Path(sys.executable).with_name("rerun")
    exe = str(rerun) if rerun.exists() else shutil.which("rerun")
    assert exe is not None, "the rerun CLI (installed with rerun-sdk) is missing"
    check = subprocess.run([exe, "mcap", "check", str(files["scene"])], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    rows = [line.split() for line in check.stdout.splitlines()
            if line.split()[:1] and line.split()[-1:] == ["—"]]
    with_messages = _summary(files["scene"]).statistics.channel_message_counts
    assert len(rows) == sum(1 for n in with_messages.values() if n)
    assert all(r[0] == "ok" for r in rows)
    out = tmp_path / "converted.rrd"
    done = subprocess.run([exe, "mcap", "convert", str(files["scene"]), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and out.stat().st_size > 0, done.stderr


def test_a_lone_box_is_an_image_annotation_and_motion_replays_exactly(
        files: dict[str, Path]) -> None:
    msgs = _messages(files["motion"])
    schema, _, body = msgs["/flows/mover/out/box"][0]
    assert schema.name == "foxglove.ImageAnnotations"
    [loop] = body["points"]
    assert [(p["x"], p["y"]) for p in loop["points"]] == [(11.0, 20.0), (41.5, 20.0),
                                                          (41.5, 60.0), (11.0, 60.0)]
    assert body["texts"][0]["text"] == "person 0.75"
    schema, _, body = msgs["/flows/mover/out/joints"][-1]
    assert schema.name == "retriever.JointState"  # ROS's fields: Foxglove plots position[0]
    assert body["name"] == ["shoulder", "elbow"]
    assert body["position"] == list(motion(STEPS).joints.positions) and body["effort"] == []
    node = motion_pipeline().validate().nodes[0]
    got = open_recording(files["motion"]).messages("mover", types=port_types(node, "out"))
    assert len(got) == STEPS
    for k, (_, _, m) in enumerate(got, start=1):
        want = motion(k)
        for port in Motion.__dataclass_fields__:
            assert _same(m[port], getattr(want, port)), (port, m[port])


def test_joint_states_of_any_dtype_come_back_exactly() -> None:
    from retriever.record.fox_known import joint_state, joint_state_back
    from retriever.types.joints import JointState
    from retriever.types.jsonable import from_jsonable

    js = JointState(names=["a", "b"], positions=np.array([0.1, np.nan], np.float32),
                    velocities=np.array([[1, 2]], np.int16))
    back = from_jsonable(joint_state_back(json.loads(json.dumps(joint_state(js)))), JointState)
    assert back.names == ["a", "b"] and _same(back.velocities, js.velocities)
    assert back.positions.dtype == np.float32 and back.positions.tobytes() == js.positions.tobytes()
    assert _same(back.efforts, js.efforts)


class _Noise(Flow[None, Scene]):
    """Incompressible 640x480 frames: a few steps fill several chunks."""

    def reset(self) -> None:
        self.rng = np.random.default_rng(7)

    def step(self, _: None) -> Scene:
        pixels = self.rng.integers(0, 255, (480, 640, 3), np.uint8)
        return Scene(image=Image.from_bgr(pixels))


def test_chunks_are_bounded_by_the_chunk_size_and_one_message(tmp_path: Path) -> None:
    from mcap.reader import make_reader

    from retriever.record.mcap_io import CHUNK_SIZE

    pipe = Pipeline("noise")
    pipe.add((_Noise() @ Rate(hz=30)).named("cam"))
    path = tmp_path / "noise.mcap"
    pipe.record(RecordConfig(path=path, inputs=False), steps=8, dt=1 / 30)
    with open(path, "rb") as fh:
        reader = make_reader(fh)
        largest = max(len(m.data) for _, _, m in reader.iter_messages())
        chunks = reader.get_summary().chunk_indexes
    assert len(chunks) >= 2  # about 13 MiB of messages
    assert all(c.uncompressed_size <= CHUNK_SIZE + largest + 4096 for c in chunks)
