"""Every payload kind users bring travels end to end: pydantic v2 models, msgspec
structs, dataclasses, enums, datetimes, UUIDs, nested envelopes, numpy arrays inside
them — through the stepper, worker processes, dora's codec, .rrd/.mcap recordings and
the JSON Schemas of types/. What truly cannot travel is refused before anything runs."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.check import check_paths
from retriever.contract.envelope import envelope_field_types
from retriever.contract.errors import ContractError
from retriever.contract.wire import MessageCodec
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.record import RecordConfig, open_recording
from retriever.types import jsonable
from retriever.types.registry import json_schema

from .payload_flows import Rich, RichCheck, RichSource, rich, same

TYPES = envelope_field_types(Rich)
FIELDS = [f.name for f in dataclasses.fields(Rich)]


def _pipeline(log: str = "") -> tuple[Pipeline, RichCheck]:
    pipe = Pipeline("rich")
    src = (RichSource() @ Rate(hz=20)).named("src")
    check = RichCheck(log)
    pipe.connect(src, (check @ Trigger(*FIELDS)).named("check"), sync=Latest())
    return pipe, check


def test_pipeline_with_every_kind_validates() -> None:
    pipe, _ = _pipeline()
    pipe.validate()
    assert pipe.diagnostics() == []


def test_stepper_delivers_every_kind_unchanged() -> None:
    pipe, check = _pipeline()
    for _ in range(3):
        pipe.step(dt=0.05)
    pipe.close_stepper()
    assert len(check.seen) == 3
    for k, got in enumerate(check.seen, start=1):
        for name in FIELDS:
            assert same(getattr(rich(k), name), getattr(got, name)), name


@pytest.mark.parametrize("name", FIELDS)
def test_wire_codec_rebuilds_the_declared_type(name: str) -> None:
    codec = MessageCodec({name: TYPES[name]})
    value = getattr(rich(3), name)
    assert same(value, codec.decode(codec.encode({name: value}))[name])


@pytest.mark.parametrize("name", FIELDS)
def test_json_form_and_schema_exist_for_every_kind(name: str) -> None:
    value = getattr(rich(2), name)
    data = json.loads(json.dumps(jsonable.to_jsonable(value)))
    assert same(value, jsonable.from_jsonable(data, TYPES[name], name))
    schema = json_schema(TYPES[name])
    assert schema and json.dumps(schema)


def test_dora_codec_rebuilds_every_kind() -> None:
    pytest.importorskip("pyarrow")
    from retriever.rt.backends.dora.codec import DoraCodec

    codec = DoraCodec(TYPES)
    value = rich(4)
    message = {n: getattr(value, n) for n in FIELDS}
    array, meta = codec.encode(message)
    back = codec.decode(array, meta)
    assert all(same(message[n], back[n]) for n in FIELDS)


def test_worker_processes_receive_every_kind(tmp_path: Path) -> None:
    log = tmp_path / "check.log"
    pipe, _ = _pipeline(str(log))
    report = pipe.run(backend="multiprocessing", duration=0.5)
    assert report.error is None
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) >= 2 and all(r["ok"] for r in rows), rows


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_recordings_round_trip_every_kind(tmp_path: Path, fmt: str) -> None:
    if fmt == "rrd":
        pytest.importorskip("rerun")
    else:
        pytest.importorskip("mcap")
    pipe, _ = _pipeline()
    path = tmp_path / f"rich.{fmt}"
    pipe.record(RecordConfig(path=path), steps=3, dt=0.05)
    msgs = open_recording(path).messages("src", "out", TYPES)
    assert len(msgs) == 3
    for k, (_, _, msg) in enumerate(msgs, start=1):
        for name in FIELDS:
            assert same(getattr(rich(k), name), msg[name]), (fmt, name)


# ---------------------------------------------------------------- what cannot travel


@io
class Locked:
    guard: threading.Event


class LockSource(Flow[None, Locked]):
    def step(self, input: None) -> Locked:
        return Locked(guard=threading.Event())


def test_a_payload_that_cannot_travel_is_refused_by_validate() -> None:
    pipe = Pipeline("locked")
    pipe.add(LockSource() @ Rate(hz=1))
    with pytest.raises(ContractError) as err:
        pipe.validate()
    assert err.value.codes == ["RET008"]
    assert "Locked.guard" in err.value.diagnostics[0].message


def test_a_payload_that_cannot_travel_is_refused_by_the_checker(tmp_path: Path) -> None:
    src = tmp_path / "locked_graph.py"
    src.write_text(
        "import threading\n"
        "from retriever.flow import Flow, Pipeline, Rate, io\n\n"
        "@io\n"
        "class Locked:\n"
        "    guard: threading.Event\n\n"
        "class LockSource(Flow[None, Locked]):\n"
        "    def step(self, input: None) -> Locked:\n"
        "        return Locked()\n\n"
        "pipe = Pipeline('p')\n"
        "pipe.add(LockSource() @ Rate(hz=1))\n")
    found = check_paths([str(src)]).errors
    assert [(d.code, d.location.line) for d in found] == [("RET008", 8)]
