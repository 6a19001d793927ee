"""Every payload kind survives a round trip through .rrd and .mcap, exactly."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.contract.envelope import envelope_field_types
from retriever.flow import Flow, Pipeline, Rate, io
from retriever.record import RecordConfig, open_recording, replay
from retriever.rt.facade import stepper_for

from .test_record_support import Emit, Everything, emit_pipeline, everything, ports_of, same

STEPS = 4
TYPES = envelope_field_types(Everything)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("roundtrip")
    pipe, _, sink = emit_pipeline()
    result = pipe.record(RecordConfig(path=tmp / "all.rrd", mirrors=(tmp / "all.mcap",)),
                         steps=STEPS, dt=0.1)
    assert result.steps == STEPS
    assert len(sink.flow.seen) == STEPS  # the sink ran while recording
    return {"rrd": tmp / "all.rrd", "mcap": tmp / "all.mcap"}


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_outputs_come_back_exactly(recorded: dict[str, Path], fmt: str) -> None:
    rec = open_recording(recorded[fmt])
    assert rec.format == fmt and not rec.truncated
    assert rec.flows == ["emit", "keep"]
    msgs = rec.messages("emit", "out", TYPES)
    assert [m[0] for m in msgs] == list(range(STEPS))
    assert [m[1] for m in msgs] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    for step, _, msg in msgs:
        expected = ports_of(everything(step))
        assert "nothing" not in msg  # a port that carried nothing stays absent
        assert msg.keys() == expected.keys()
        for port, value in expected.items():
            assert same(value, msg[port]), (fmt, step, port, value, msg[port])
        assert isinstance(msg["pose"], type(everything(0).pose))
        assert isinstance(msg["tup"], tuple)


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_inputs_are_recorded_too(recorded: dict[str, Path], fmt: str) -> None:
    rec = open_recording(recorded[fmt])
    msgs = rec.messages("keep", "in", TYPES)
    assert len(msgs) == STEPS
    for step, _, msg in msgs:
        exp = ports_of(everything(step))
        assert all(same(exp[p], msg[p]) for p in exp)


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_untyped_reading_gives_plain_data_with_exact_arrays(recorded: dict[str, Path],
                                                            fmt: str) -> None:
    step, _, msg = open_recording(recorded[fmt]).messages("emit")[1]
    exp = everything(step)
    assert msg["i"] == exp.i and msg["s"] == exp.s and msg["b"] is exp.b
    assert msg["pose"] == {"x": exp.pose.x, "y": exp.pose.y, "label": exp.pose.label}
    assert same(msg["rgb"], exp.rgb) and same(msg["be32"], exp.be32)


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_replay_feeds_identical_values_downstream(recorded: dict[str, Path], fmt: str) -> None:
    pipe, src, sink = emit_pipeline()
    source = replay(pipe, src, path=recorded[fmt])
    assert len(source) == STEPS
    results = [pipe.step(dt=0.1) for _ in range(STEPS + 2)]
    pipe.close_stepper()
    assert not hasattr(src.flow, "k")  # the replayed flow was never started
    assert source.exhausted
    assert len(sink.flow.seen) == STEPS
    for k, got in enumerate(sink.flow.seen):
        exp = everything(k)
        for port in ports_of(exp):
            assert same(getattr(exp, port), getattr(got, port)), (fmt, k, port)
        assert got.nothing is None
    assert "emit" not in results[-1].messages  # nothing left to publish


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_replay_into_an_open_stepper_and_by_time(recorded: dict[str, Path], fmt: str) -> None:
    pipe, src, sink = emit_pipeline()
    pipe.step(dt=0.1)  # the live source runs once
    pipe.replay(src, path=str(recorded[fmt]))  # the Pipeline facade form
    src_replay = stepper_for(pipe).replay["emit"]
    pipe.step(dt=0.1)
    assert sink.flow.seen[-1].i == everything(0).i  # recording starts at its own step 0
    pipe.close_stepper()

    pipe2, src2, sink2 = emit_pipeline()
    by_time = replay(pipe2, src2, path=recorded[fmt], mode="time")
    for _ in range(8):
        pipe2.step(dt=0.05)  # twice as fast as recorded: every other step publishes
    pipe2.close_stepper()
    assert [e.i for e in sink2.flow.seen] == [everything(k).i for k in range(STEPS)]
    assert by_time.exhausted and src_replay.served == 1


def test_no_pickle_is_involved(recorded: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("pickle used")

    for name in ("loads", "load", "dumps", "dump"):
        monkeypatch.setattr(pickle, name, refuse)
    for path in recorded.values():
        assert open_recording(path).messages("emit", "out", TYPES)


@io
class ArrayOut:
    arr: np.ndarray


class ArraySrc(Flow[None, ArrayOut]):
    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> ArrayOut:
        out = ArrayOut(arr=self.arrays[self.k % len(self.arrays)])
        self.k += 1
        return out


def test_arrays_of_many_dtypes_and_shapes(tmp_path: Path) -> None:
    arrays = [np.arange(24, dtype=dt).reshape(shape) for dt, shape in [
        (np.uint8, (24,)), (np.int8, (2, 12)), (np.uint16, (4, 6)), (np.int32, (2, 3, 4)),
        (np.int64, (1, 24)), (np.float16, (3, 8)), (np.float32, (6, 4)), (np.float64, (24, 1)),
        (np.complex64, (12, 2)), (np.uint32, (2, 2, 2, 3)), (np.uint16, (4, 6, 1)),
        (np.float32, (2, 4, 3))]]
    pipe = Pipeline("arrays")
    pipe.add(ArraySrc(arrays) @ Rate(hz=2))
    pipe.record(RecordConfig(tmp_path / "a.rrd", mirrors=(tmp_path / "a.mcap",)),
                steps=len(arrays), dt=0.5)
    for path in (tmp_path / "a.rrd", tmp_path / "a.mcap"):
        msgs = open_recording(path).messages("array_src", "out", {"arr": np.ndarray})
        assert len(msgs) == len(arrays)
        for (_, _, m), a in zip(msgs, arrays, strict=True):
            assert same(m["arr"], a), (path.suffix, a.dtype, a.shape)


def test_emit_is_module_level() -> None:
    assert Emit.__module__ == "tests.test_record_support"
