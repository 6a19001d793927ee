"""retriever.types.data: events, event buffers, TimedBuffer conversion, manifests, Parquet."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retriever.contract.errors import MissingDependencyError
from retriever.flow.adapter import Latest
from retriever.flow.types import EventStream
from retriever.types.data import (
    DatasetManifest,
    Episode,
    Event,
    EventBuffer,
    EventRef,
    StreamInfo,
    export_parquet,
)
from retriever.types.errors import PayloadError
from retriever.types.registry import from_jsonable, json_schema, to_jsonable
from retriever.types.spatial import Header, JointState, Pose, Quaternion, Vector3


@pytest.fixture
def pq() -> Any:
    """pyarrow.parquet (the optional extra that export_parquet needs)."""
    return pytest.importorskip("pyarrow.parquet")


def buf() -> EventBuffer:
    return EventBuffer.from_records([("a", 30, "a0"), ("b", 10, "b0"), ("a", 10, "a1"),
                                     ("b", 20, "b1")])


# ----------------------------------------------------------------- events

def test_event_fields_identity_and_lineage() -> None:
    e = Event(1_500_000_000, "cam", 3, "frame")
    assert e.ref == EventRef("cam", 3) and str(e.ref) == "cam#3" and e.time_s == 1.5
    other = Event(1_400_000_000, "imu", 9, 0.5)
    d = e.derive("det", 0, "box", also_from=[other])
    assert d.time_ns == e.time_ns and d.lineage == (EventRef("cam", 3), EventRef("imu", 9))
    assert e.derive("det", 1, "box", time_ns=7).time_ns == 7
    assert Event(1, "s", 0, lineage=[EventRef("x", 1)]).lineage == (EventRef("x", 1),)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"time_ns": 1.5}, "time_ns"), ({"time_ns": True}, "time_ns"), ({"seq": -1}, "seq"),
    ({"stream": ""}, "stream")])
def test_bad_events_are_rejected(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"time_ns": 1, "stream": "s", "seq": 0, **kwargs}
    with pytest.raises(PayloadError) as info:
        Event(**args)
    assert info.value.field == field


def test_event_json_form_and_schema() -> None:
    e = Event(2**62, "s", 1, {"x": 1.0}, (EventRef("t", 2),))
    data = json.loads(json.dumps(to_jsonable(e)))
    assert data == {"time_ns": 2**62, "stream": "s", "seq": 1, "value": {"x": 1.0},
                    "lineage": [{"stream": "t", "seq": 2}]}
    assert from_jsonable(data, Event) == e
    schema = json_schema("retriever/data/v1/Event")
    assert schema["properties"]["time_ns"] == {"type": "integer"}
    assert schema["properties"]["lineage"]["items"] == {
        "$ref": "#/$defs/retriever.data.v1.EventRef"}


# ----------------------------------------------------------------- buffers

def test_buffer_orders_by_time_stably_and_numbers_streams() -> None:
    b = buf()
    assert [(e.stream, e.time_ns, e.seq) for e in b] == [
        ("b", 10, 0), ("a", 10, 1), ("b", 20, 1), ("a", 30, 0)]
    b.add(Event(10, "c", 0, "c0"))
    assert [e.value for e in b][:3] == ["b0", "a1", "c0"]  # equal times: insertion order
    assert b.streams() == {"a", "b", "c"} and len(b) == 5
    assert (b.start_ns, b.end_ns) == (10, 30) and b[0].value == "b0"
    assert EventBuffer().start_ns is None and EventBuffer().end_ns is None
    e = b.append("a", 40, "a2")
    assert e.seq == 2 and b.end_ns == 40
    assert "5 events" not in repr(b) and "6 events" in repr(b)


def test_window_queries_are_half_open() -> None:
    b = buf()
    assert [e.value for e in b.window(10, 30)] == ["b0", "a1", "b1"]
    assert [e.value for e in b.window(11, 31)] == ["b1", "a0"]
    assert [e.value for e in b.window(end_ns=20)] == ["b0", "a1"]
    assert [e.value for e in b.window(20)] == ["b1", "a0"]
    assert [e.value for e in b.window(0, 100, streams=["a"])] == ["a1", "a0"]
    assert len(b.window(31, 40)) == 0
    assert b.latest("a").value == "a0"  # type: ignore[union-attr]
    assert b.latest("a", at_ns=29).value == "a1"  # type: ignore[union-attr]
    assert b.latest("a", at_ns=9) is None and b.latest("zzz") is None
    assert [e.value for e in b.stream("b")] == ["b0", "b1"]


def test_merge_of_streams_keeps_time_order_and_argument_order_on_ties() -> None:
    a = EventBuffer.from_records([("a", t, t) for t in (0, 10, 20)])
    b = EventBuffer.from_records([("b", t, t) for t in (5, 10, 25)])
    m = EventBuffer.merge(a, b)
    assert [(e.stream, e.time_ns) for e in m] == [
        ("a", 0), ("b", 5), ("a", 10), ("b", 10), ("a", 20), ("b", 25)]
    assert len(a) == 3  # inputs untouched


def test_lineage_can_be_followed_back() -> None:
    b = EventBuffer()
    raw = b.append("raw", 0, 1)
    raw2 = b.append("raw", 5, 2)
    feat = b.append("feat", 6, 3, lineage=[raw.ref, raw2.ref])
    out = b.append("out", 7, 4, lineage=[feat.ref, EventRef("gone", 0)])
    assert b.ancestors(out) == [raw, raw2, feat]
    assert b.find(EventRef("feat", 0)) == feat and b.find(EventRef("gone", 0)) is None


# ----------------------------------------------------------------- TimedBuffer

def test_timed_buffer_conversion_feeds_the_runtime_adapters() -> None:
    b = EventBuffer.from_records([("x", 1_000_000_000, 1), ("x", 1_500_000_000, 2),
                                  ("y", 1_200_000_000, 9)])
    tb = b.to_timed_buffer("x")
    assert tb == [(1.0, 1), (1.5, 2)]
    assert EventStream(tb).sample(Latest(), now=1.6) == 2
    rel = b.to_timed_buffer(origin_ns=1_000_000_000)
    assert rel == [(0.0, 1), (0.2, 9), (0.5, 2)]
    back = EventBuffer.from_timed_buffer(tb, "x")
    assert [(e.time_ns, e.seq, e.value) for e in back] == [
        (1_000_000_000, 0, 1), (1_500_000_000, 1, 2)]
    with pytest.raises(PayloadError, match="stream name"):
        EventBuffer.from_timed_buffer(tb)


def test_keep_events_is_lossless_even_for_epoch_times() -> None:
    t0 = 1_700_000_000_123_456_789
    b = EventBuffer([Event(t0 + k, "s", k, k, (EventRef("p", k),)) for k in range(3)])
    tb = b.to_timed_buffer(keep_events=True)
    assert EventBuffer.from_timed_buffer(tb).events == b.events
    # without an origin, float seconds cannot hold epoch nanoseconds ...
    plain = EventBuffer.from_timed_buffer(b.to_timed_buffer(), "s")
    assert [e.time_ns for e in plain] != [e.time_ns for e in b]
    assert all(abs(p.time_ns - e.time_ns) < 1_000 for p, e in zip(plain, b, strict=True))
    # ... with the recording's start as origin they come back exactly
    exact = EventBuffer.from_timed_buffer(b.to_timed_buffer(origin_ns=t0), "s", origin_ns=t0)
    assert [e.time_ns for e in exact] == [e.time_ns for e in b]


@settings(max_examples=300, deadline=None)
@given(st.integers(-(4 * 10**15), 4 * 10**15), st.integers(0, 2**62))
def test_nanoseconds_survive_seconds_within_the_documented_range(offset: int,
                                                                 origin: int) -> None:
    b = EventBuffer([Event(origin + offset, "s", 0)])
    tb = b.to_timed_buffer(origin_ns=origin)
    assert EventBuffer.from_timed_buffer(tb, "s", origin_ns=origin)[0].time_ns == origin + offset


# ----------------------------------------------------------------- manifest + Parquet

def test_manifest_round_trips_through_json(tmp_path: Path) -> None:
    m = DatasetManifest(name="run", streams=[StreamInfo(name="a", file="a.parquet", count=2)],
                        episodes=[Episode(id="e", start_ns=0, end_ns=10)])
    m.write(tmp_path)
    assert DatasetManifest.read(tmp_path) == m
    assert DatasetManifest.read(tmp_path / "manifest.json").stream("a").count == 2
    with pytest.raises(KeyError, match="streams: a"):
        m.stream("b")
    assert m.episodes[0].contains(0) and not m.episodes[0].contains(10)


def test_export_parquet_writes_readable_tables_with_a_manifest(tmp_path: Path, pq: Any) -> None:
    b = EventBuffer()
    for k in range(4):
        b.append("robot/pose", k * 10, Pose(Vector3(k, 0.5, 0), Quaternion()))
    src = b[0]
    joints = JointState.make(["j1", "j2"], [0.1, 0.2], header=Header("arm", 3))
    b.add(src.derive("joints", 0, joints))
    b.append("image", 5, np.arange(6, dtype=np.uint8).reshape(2, 3))
    b.append("count", 7, 3)
    episodes = [Episode(id="first", start_ns=0, end_ns=15), Episode(id="second", start_ns=15,
                                                                   end_ns=100)]
    m = export_parquet(b, tmp_path / "ds", name="demo", episodes=episodes,
                       metadata={"robot": "r1"})
    assert DatasetManifest.read(tmp_path / "ds") == m
    assert {s.name: s.file for s in m.streams} == {
        "robot/pose": "robot_pose.parquet", "joints": "joints.parquet",
        "image": "image.parquet", "count": "count.parquet"}
    pose_info = m.stream("robot/pose")
    assert (pose_info.count, pose_info.start_ns, pose_info.end_ns) == (4, 0, 30)
    assert pose_info.type_name == "retriever/spatial/v1/Pose"
    assert pose_info.value_schema == json_schema(Pose)

    pose = pq.read_table(tmp_path / "ds" / "robot_pose.parquet")
    rows = pose.to_pylist()
    assert pose.schema.field("time_ns").type == "int64"
    assert [r["time_ns"] for r in rows] == [0, 10, 20, 30]
    assert [r["position.x"] for r in rows] == [0, 1, 2, 3]
    assert [r["episode"] for r in rows] == ["first", "first", "second", "second"]
    assert rows[0]["orientation.w"] == 1.0 and rows[0]["lineage"] == []
    meta = pose.schema.metadata
    assert meta[b"retriever.type"] == b"retriever/spatial/v1/Pose"
    assert json.loads(meta[b"retriever.schema"]) == json_schema(Pose)

    joints = pq.read_table(tmp_path / "ds" / "joints.parquet").to_pylist()[0]
    assert joints["lineage"] == ["robot/pose#0"]
    assert joints["positions"] == [0.1, 0.2] and joints["names"] == ["j1", "j2"]
    assert joints["header.frame_id"] == "arm"
    image = pq.read_table(tmp_path / "ds" / "image.parquet").to_pylist()[0]
    assert image["value"] == [0, 1, 2, 3, 4, 5] and image["value.shape"] == [2, 3]
    assert pq.read_table(tmp_path / "ds" / "count.parquet").to_pylist()[0]["value"] == 3


def test_export_accepts_records_from_a_recording_reader(tmp_path: Path, pq: Any) -> None:
    def records() -> Any:  # what a recording reader yields: (stream, time_ns, value)
        yield ("b", 20, {"v": 1.0})
        yield ("b", 10, {"v": 2.0})
        yield ("mixed", 1, 1)
        yield ("mixed", 2, "two")
        yield ("mixed", 3, None)

    m = export_parquet(records(), tmp_path)
    rows = pq.read_table(tmp_path / "b.parquet").to_pylist()
    assert [(r["time_ns"], r["seq"], r["v"]) for r in rows] == [(10, 1, 2.0), (20, 0, 1.0)]
    mixed = pq.read_table(tmp_path / "mixed.parquet").to_pylist()
    assert [r["value"] for r in mixed] == ["1", '"two"', None]  # JSON text fallback
    assert m.stream("mixed").type_name == "builtins:int"


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__
    monkeypatch.delitem(sys.modules, "pyarrow", raising=False)

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "pyarrow":
            raise ImportError("no pyarrow")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr("importlib.import_module", lambda name: fake_import(name))
    with pytest.raises(MissingDependencyError, match=r"pyretriever\[data\]") as info:
        export_parquet(EventBuffer(), tmp_path)
    assert info.value.code == "RET600"
