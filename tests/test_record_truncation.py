"""A recording cut off mid-write (process killed, bytes missing) replays what is there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

import retriever  # noqa: F401
from retriever.contract.envelope import envelope_field_types
from retriever.record import RecordConfig, RecordingError, TruncatedRecordingWarning, open_recording

from .test_record_support import (
    BrokenCamera,
    Detections,
    SyntheticCamera,
    perception,
    ports_of,
    same,
)

ROOT = Path(__file__).resolve().parent.parent
CHILD = textwrap.dedent("""
    import sys
    import retriever
    from retriever.record import RecordConfig
    from retriever.record.recorder import Recorder
    from retriever.rt.facade import stepper_for
    from tests.test_record_support import SyntheticCamera, perception

    pipe, _ = perception(SyntheticCamera(height=480, width=640))
    stepper = stepper_for(pipe)
    recorder = Recorder(stepper.ir, RecordConfig(path=sys.argv[1], flush_every_step=True))
    stepper.observers.append(recorder)
    stepper.observers.append(lambda r: print("step", flush=True))  # after the flush
    while True:
        stepper.step(dt=1 / 30)
""")


def _record_then_kill(path: Path, steps: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        seen = 0
        assert proc.stdout is not None
        while seen < steps:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("recorder child died: " + (proc.stderr.read() if
                                                                proc.stderr else ""))
            seen += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_killed_recorder_leaves_a_replayable_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"killed.{fmt}"
    _record_then_kill(path, steps=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(path)
    assert rec.truncated
    assert any(issubclass(w.category, TruncatedRecordingWarning) for w in caught)
    with pytest.raises(RecordingError) as err:
        open_recording(path, strict=True)
    assert err.value.code == "RET810" and str(path) in str(err.value)
    cams = rec.messages("camera")
    assert len(cams) >= 8 and [c[0] for c in cams] == list(range(len(cams)))
    dets = rec.messages("detector", "out", envelope_field_types(Detections))

    pipe, nodes = perception(BrokenCamera(height=480, width=640))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedRecordingWarning)
        pipe.replay(nodes["camera"], path=str(path))
    for k in range(len(cams)):
        res = pipe.step(dt=1 / 30)
        assert same(res.messages["camera"], cams[k][2])
        if k < len(dets):  # the detector's value of the last step may be cut off
            assert same(ports_of(res.outputs["detector"]), dets[k][2])
    assert "camera" not in pipe.step(dt=1 / 30).messages  # nothing after the cut
    pipe.close_stepper()


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cut")
    pipe, _ = perception(SyntheticCamera(height=24, width=32))
    cfg = RecordConfig(path=tmp / "full.rrd", mirrors=(tmp / "full.mcap",))
    pipe.record(cfg, steps=6, dt=0.1)
    out = {}
    for p in cfg.paths:
        rec = open_recording(p)
        out[p.suffix[1:]] = (p, {t: [(s.step, s.payload) for s in v]
                                 for t, v in rec.samples.items()})
    return out


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_every_cut_point_reads_a_prefix_or_fails_typed(full: dict[str, Any], tmp_path: Path,
                                                       fmt: str) -> None:
    path, reference = full[fmt]
    data = path.read_bytes()
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 60))) | {len(data) - 1,
                                                                        len(data) - 40})
    readable = 0
    for cut in cuts:
        part = tmp_path / f"cut{cut}.{fmt}"
        part.write_bytes(data[:cut])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TruncatedRecordingWarning)
                rec = open_recording(part)
        except RecordingError as exc:
            assert str(part) in str(exc) and exc.code in ("RET802", "RET803", "RET806")
            continue
        readable += 1
        total = sum(len(v) for v in reference.values())
        assert rec.truncated or rec.message_count == total, cut  # only the footer was cut
        for topic, samples in rec.samples.items():
            got = [(s.step, s.payload) for s in samples]
            want = reference[topic][:len(got)]
            assert [g[0] for g in got] == [w[0] for w in want], (cut, topic)
            assert all(bytes(g[1]) == bytes(w[1]) if fmt == "rrd" else g[1] == w[1]
                       for g, w in zip(got, want, strict=True)), (cut, topic)
        part.unlink()
    assert readable > len(cuts) // 2


def test_a_cut_copy_is_still_a_truncated_file(full: dict[str, Any], tmp_path: Path) -> None:
    src, _ = full["mcap"]
    dst = tmp_path / "copy.mcap"
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as fh:
        fh.truncate(dst.stat().st_size - 10)
    with pytest.warns(TruncatedRecordingWarning, match="cut off"):
        rec = open_recording(dst)
    assert rec.steps == (0, 5)
