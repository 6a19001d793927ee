"""Bad files give typed errors; good files open in the standard MCAP and Rerun readers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever  # noqa: F401
from retriever.contract.errors import ConfigError
from retriever.record import RecordConfig, RecordingError, open_recording
from retriever.rt.facade import open_stepper

from .test_record_support import emit_pipeline, perception


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("good")
    pipe, _ = perception()
    pipe.record(RecordConfig(path=tmp / "p.rrd", mirrors=(tmp / "p.mcap",)), steps=3, dt=0.1)
    pipe2, _, _ = emit_pipeline()
    pipe2.record(RecordConfig(path=tmp / "e.rrd", mirrors=(tmp / "e.mcap",)), steps=3, dt=0.1)
    return {"rrd": tmp / "p.rrd", "mcap": tmp / "p.mcap", "erdd": tmp / "e.rrd",
            "emcap": tmp / "e.mcap"}


def _err(path: Path) -> RecordingError:
    with pytest.raises(RecordingError) as info:
        open_recording(path)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


@pytest.mark.parametrize("suffix", [".rrd", ".mcap"])
def test_missing_empty_random_and_text(tmp_path: Path, suffix: str) -> None:
    assert _err(tmp_path / f"nope{suffix}").code == "RET801"
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    assert _err(empty).code == "RET802"
    noise = tmp_path / f"noise{suffix}"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert _err(noise).code == "RET803"
    text = tmp_path / f"notes{suffix}"
    text.write_text("just some text\n")
    assert _err(text).code == "RET803"


def test_renamed_files_name_the_real_format(good: dict[str, Path], tmp_path: Path) -> None:
    as_rrd = tmp_path / "really_mcap.rrd"
    shutil.copyfile(good["mcap"], as_rrd)
    err = _err(as_rrd)
    assert err.code == "RET804" and "MCAP" in err.message and "really_mcap.mcap" in err.hint
    as_mcap = tmp_path / "really_rrd.mcap"
    shutil.copyfile(good["rrd"], as_mcap)
    assert _err(as_mcap).code == "RET804"


def test_unknown_extension_and_directory(good: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "run.bag"
    shutil.copyfile(good["mcap"], other)
    assert _err(other).code == "RET808"
    folder = tmp_path / "dir.rrd"
    folder.mkdir()
    assert _err(folder).code == "RET803"


def test_foreign_mcap_and_rrd_files(tmp_path: Path) -> None:
    import rerun as rr
    from mcap.writer import Writer

    path = tmp_path / "foreign.mcap"
    with open(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="ros2", library="someone else")
        sid = w.register_schema(name="x", encoding="jsonschema", data=b"{}")
        cid = w.register_channel(topic="/x", message_encoding="json", schema_id=sid)
        w.add_message(cid, log_time=1, publish_time=1, data=b"{}")
        w.finish()  # type: ignore[no-untyped-call]
    err = _err(path)
    assert err.code == "RET805" and "ros2" in err.message

    path = tmp_path / "foreign.rrd"
    stream = rr.RecordingStream("someone_else", recording_id="0f0f0f0f-0000-4000-8000-000000000000")
    stream.save(str(path))
    stream.log("points", rr.Points3D([[1, 2, 3]]))
    stream.flush()
    stream.disconnect()
    assert _err(path).code == "RET805"


def test_damaged_mcap_is_reported(good: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(good["mcap"].read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip bits in the middle of the data section
    bad = tmp_path / "flipped.mcap"
    bad.write_bytes(bytes(data))
    assert _err(bad).code == "RET806"


def test_damaged_rrd_is_reported_or_read_up_to_the_damage(good: dict[str, Path],
                                                          tmp_path: Path) -> None:
    data = bytearray(good["rrd"].read_bytes())
    for at in (20, len(data) // 3, len(data) // 2):
        broken = bytearray(data)
        broken[at:at + 64] = bytes(64)
        bad = tmp_path / f"zeroed{at}.rrd"
        bad.write_bytes(bytes(broken))
        try:
            rec = open_recording(bad)
        except RecordingError as exc:
            assert exc.code in ("RET805", "RET806") and str(bad) in str(exc)
        else:
            assert rec.message_count <= open_recording(good["rrd"]).message_count


def test_header_from_the_future_is_refused(tmp_path: Path) -> None:
    from mcap.writer import Writer

    path = tmp_path / "future.mcap"
    with open(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="retriever", library="retriever 99")
        w.add_metadata("retriever", {"header": json.dumps(
            {"format": "retriever-recording", "version": 99, "channels": []})})
        w.finish()  # type: ignore[no-untyped-call]
    err = _err(path)
    assert err.code == "RET805" and "version 99" in err.message


def test_replaying_an_unknown_flow_or_mismatched_ports(good: dict[str, Path]) -> None:
    pipe, src, _ = emit_pipeline()
    with pytest.raises(RecordingError) as info:
        pipe.replay(src, path=str(good["rrd"]))  # perception recording has no 'emit'
    assert info.value.code == "RET807" and "camera" in info.value.hint
    pipe.close_stepper()


def test_writing_to_a_bad_place_or_extension(tmp_path: Path) -> None:
    pipe, _ = perception()
    for name in ("missing_dir/x.rrd", "missing_dir/x.mcap"):
        with pytest.raises(RecordingError) as info:
            pipe.record(tmp_path / name, steps=1, dt=0.1)
        assert info.value.code == "RET809"
    with pytest.raises(ConfigError) as cfg:
        pipe.record(tmp_path / "x.bag", steps=1)
    assert cfg.value.code == "RET808"
    with pytest.raises(ConfigError):
        RecordConfig(path=tmp_path / "a.rrd", mirrors=(tmp_path / "a.rrd",))
    assert open_stepper(pipe) is None  # the stepper was closed again


# ----------------------------------------------------------------- standard readers


def test_mcap_opens_in_the_standard_reader_with_a_json_schema_per_channel(
        good: dict[str, Path]) -> None:
    from mcap.reader import make_reader

    forms: dict[str, str] = {}
    with open(good["emcap"], "rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        assert summary is not None and reader.get_header().profile == "retriever"
        assert summary.statistics is not None and summary.statistics.message_count > 0
        for channel in summary.channels.values():
            assert channel.message_encoding == "json"
            schema = summary.schemas[channel.schema_id]
            assert schema.encoding == "jsonschema"
            doc = json.loads(schema.data)
            forms[channel.topic] = channel.metadata["form"]
            key = {"value": "value", "json": "json"}[channel.metadata["form"]]
            assert doc["type"] == "object" and set(doc["properties"]) == {key}
            assert doc["$schema"].startswith("https://json-schema.org/")
        topics = {c.topic for c in summary.channels.values()}
        assert "/flows/emit/out/rgb" in topics and "/flows/keep/in/rgb" in topics
    # dict[str, float] and tuple[int, str] have no schema Foxglove parses: JSON text
    assert forms["/flows/emit/out/dct"] == forms["/flows/emit/out/tup"] == "json"
    assert forms["/flows/emit/out/pose"] == forms["/flows/emit/out/f"] == "value"
    with open(good["emcap"], "rb") as fh:
        count = 0
        for schema_, channel, message in make_reader(fh).iter_messages():
            body = json.loads(message.data)
            assert isinstance(body, dict) and set(body) == {forms[channel.topic]}
            count += 1
            if channel.topic == "/flows/emit/out/rgb":
                v = body["value"]
                assert v["dtype"] == "|u1" and v["shape"] == [6, 8, 3]
                assert schema_ is not None
                props = json.loads(schema_.data)["properties"]["value"]
                assert props["properties"]["data"]["contentEncoding"] == "base64"
            if channel.topic == "/flows/emit/out/dct":
                assert set(json.loads(body["json"])) == {"a", "b"}
        assert count == summary.statistics.message_count


def test_rerun_reader_opens_the_rrd(good: dict[str, Path]) -> None:
    from rerun.chunk import RrdReader

    reader = RrdReader(good["erdd"])
    [store] = reader.recordings()
    assert store.application_id == "retriever"
    components: dict[str, set[str]] = {}
    timelines: set[str] = set()
    for chunk in reader.stream():
        names = chunk.to_record_batch().schema.names
        components.setdefault(chunk.entity_path, set()).update(names)
        timelines.update(chunk.timeline_names)
    assert {"step", "time"} <= timelines
    assert "Image:buffer" in components["/flows/emit/out/rgb"]
    assert "Image:buffer" in components["/flows/emit/out/gray"]
    assert "Scalars:scalars" in components["/flows/emit/out/i"]
    assert "Scalars:scalars" in components["/flows/emit/out/b"]
    assert "TextDocument:text" in components["/flows/emit/out/s"]
    assert "TextDocument:text" in components["/flows/emit/out/pose"]
    assert "retriever_payload" in components["/flows/emit/out/f64"]
    assert "retriever_header" in components["/retriever"]


def test_inspect_summary_lists_channels(good: dict[str, Path]) -> None:
    from retriever.cli.cmd_inspect import summary

    for key in ("rrd", "mcap"):
        data: dict[str, Any] = summary(open_recording(good[key]))
        chans = {c["topic"]: c for c in data["channels"]}
        assert chans["/flows/camera/out/image"]["count"] == 3
        assert data["steps"] == [0, 2] and data["time_span"] == pytest.approx([0.0, 0.2])
    assert os.path.getsize(good["rrd"]) > 0
