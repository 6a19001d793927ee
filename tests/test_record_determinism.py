"""Recording a perception pipeline and replaying its camera reproduces every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import retriever  # noqa: F401
from retriever.contract.envelope import envelope_field_types
from retriever.contract.errors import FlowError
from retriever.record import RecordConfig, open_recording
from retriever.rt.facade import stepper_for

from .test_record_support import BrokenCamera, Detections, Track, perception, ports_of, same

N = 25
DT = 1 / 30


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("determinism")
    pipe, nodes = perception()
    paths = [tmp / "cam.rrd", tmp / "cam.mcap"]
    results: list[Any] = []
    stepper_for(pipe).observers.append(  # keep what each step published, to compare
        lambda r: results.append({k: dict(v) for k, v in r.messages.items()}))
    pipe.record(RecordConfig(path=paths[0], mirrors=(paths[1],)), steps=N, dt=DT)
    pipe.close_stepper()
    return {"paths": paths, "steps": results, "log": list(nodes["log"].flow.seen)}


def test_recording_has_every_step(original: dict[str, Any]) -> None:
    assert len(original["steps"]) == N
    for path in original["paths"]:
        rec = open_recording(path)
        assert rec.steps == (0, N - 1)
        assert rec.channels["/flows/camera/out/image"].count == N
        assert rec.channels["/flows/detector/in/image"].count == N


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_replaying_the_camera_is_deterministic(original: dict[str, Any], fmt: str) -> None:
    path = next(p for p in original["paths"] if p.suffix == f".{fmt}")
    pipe, nodes = perception(BrokenCamera())  # no camera here: replay must not start it
    pipe.replay(nodes["camera"], path=path)
    replayed = [pipe.step(dt=DT) for _ in range(N)]
    pipe.close_stepper()
    rec = open_recording(path)
    det_file = rec.messages("detector", "out", envelope_field_types(Detections))
    trk_file = rec.messages("tracker", "out", envelope_field_types(Track))
    assert len(det_file) == len(trk_file) == N
    for k, (live, res) in enumerate(zip(original["steps"], replayed, strict=True)):
        assert res.executed == ["camera", "detector", "tracker", "log"]
        for flow in ("camera", "detector", "tracker"):
            assert same(live[flow], res.messages[flow]), (fmt, k, flow)
        assert same(ports_of(res.outputs["detector"]), det_file[k][2]), (fmt, k)
        assert same(ports_of(res.outputs["tracker"]), trk_file[k][2]), (fmt, k)
    assert nodes["log"].flow.seen == original["log"]


def test_the_broken_camera_really_is_broken() -> None:
    pipe, _ = perception(BrokenCamera())
    with pytest.raises(FlowError, match="no camera attached"):
        pipe.step(dt=DT)
    pipe.close_stepper()


def test_recording_a_replayed_run_gives_the_same_file_content(original: dict[str, Any],
                                                              tmp_path: Path) -> None:
    pipe, nodes = perception(BrokenCamera())
    pipe.replay(nodes["camera"], path=original["paths"][0])
    pipe.record(tmp_path / "again.mcap", steps=N, dt=DT)
    a = open_recording(original["paths"][1])
    b = open_recording(tmp_path / "again.mcap")
    for flow in ("camera", "detector", "tracker"):
        assert same([m[2] for m in a.messages(flow)], [m[2] for m in b.messages(flow)]), flow
