"""Recording through the writer process: same files as inline, safe with mutated
arrays, typed errors when the writer fails, files finished when the recorder dies."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.flow import Flow, Latest, Pipeline, Rate, io
from retriever.record import (
    OffloadRecorder,
    RecordConfig,
    RecordingError,
    open_recorder,
    open_recording,
)
from retriever.record.offload import status_message, writer_error
from retriever.record.offload_writer import error_record, start_writer
from retriever.record.recorder import Recorder
from retriever.rt.errors import ErrorRecord
from retriever.rt.facade import stepper_for

from .test_record_support import emit_pipeline, same


@io
class Pose:
    """A planar pose."""

    x: float
    y: float


@io
class Velocity:
    """A planar velocity (also has an ``x``)."""

    x: float
    vy: float


@io
class Image:
    """A frame written into one reused buffer."""

    pixels: np.ndarray
    n: int


class PoseSource(Flow[None, Pose]):
    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Pose:
        self.k += 1
        return Pose(x=float(self.k), y=-float(self.k))


class VelSource(Flow[None, Velocity]):
    def step(self, _: None) -> Velocity:
        return Velocity(x=0.5, vy=-0.5)


class Fuse(Flow[tuple[Pose, Velocity], Pose]):
    def step(self, inp: tuple[Pose, Velocity]) -> Pose:
        return Pose(x=inp.Pose.x + inp.Velocity.x, y=inp.vy)  # type: ignore[attr-defined]


class Reuse(Flow[None, Image]):
    """Publishes the same array object every step, overwritten in place."""

    def reset(self) -> None:
        self.buf = np.zeros((8, 8), dtype=np.uint16)
        self.k = 0

    def step(self, _: None) -> Image:
        self.k += 1
        self.buf[:] = self.k
        return Image(pixels=self.buf, n=self.k)


class Bad(Flow[None, Image]):
    def step(self, _: None) -> Image:
        return Image(pixels=object(), n=1)  # type: ignore[arg-type]


def composite_pipeline() -> Pipeline:
    pipe = Pipeline("offload")
    fuse = Fuse() @ Rate(hz=10)
    pipe.connect(PoseSource() @ Rate(hz=10), fuse, sync=Latest(),
                 map={"x": "Pose.x", "y": "Pose.y"})
    pipe.connect(VelSource() @ Rate(hz=10), fuse, sync=Latest(),
                 map={"x": "Velocity.x", "vy": "vy"})
    pipe.add((Reuse() @ Rate(hz=10)).named("reuse"))
    return pipe


def contents(path: Path) -> dict[tuple[str, str], list[tuple[int, float, dict[str, Any]]]]:
    rec = open_recording(path)
    assert not rec.truncated
    return {(f, side): rec.messages(f, side) for f in rec.flows for side in ("out", "in")}


def assert_same_recordings(a: Path, b: Path) -> None:
    ca, cb = contents(a), contents(b)
    assert ca.keys() == cb.keys()
    for key in ca:
        assert len(ca[key]) == len(cb[key]), key
        for (s1, t1, m1), (s2, t2, m2) in zip(ca[key], cb[key], strict=True):
            assert (s1, t1) == (s2, t2)
            assert m1.keys() == m2.keys(), key
            assert all(same(m1[p], m2[p]) for p in m1), (key, s1)


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_writer_process_writes_what_inline_writes(tmp_path: Path, fmt: str) -> None:
    paths = {}
    for writer in ("process", "inline"):
        path = tmp_path / f"{writer}.{fmt}"
        result = composite_pipeline().record(RecordConfig(path=path, writer=writer),
                                             steps=6, dt=0.1)
        assert result.steps == 6 and result.values > 0
        paths[writer] = (path, result.values)
    assert paths["process"][1] == paths["inline"][1]  # same number of values written
    assert_same_recordings(paths["process"][0], paths["inline"][0])
    fuse_in = contents(paths["process"][0])[("fuse", "in")]
    assert [m["Pose.x"] for _, _, m in fuse_in] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_every_payload_kind_through_the_writer(tmp_path: Path) -> None:
    pipe, _, _ = emit_pipeline()
    pipe.record(RecordConfig(path=tmp_path / "p.mcap", mirrors=(tmp_path / "p.rrd",)),
                steps=3, dt=0.1)
    pipe, _, _ = emit_pipeline()
    pipe.record(RecordConfig(path=tmp_path / "i.mcap", mirrors=(tmp_path / "i.rrd",),
                             writer="inline"), steps=3, dt=0.1)
    assert_same_recordings(tmp_path / "p.mcap", tmp_path / "i.mcap")
    assert_same_recordings(tmp_path / "p.rrd", tmp_path / "i.rrd")


def test_arrays_changed_after_publishing_keep_their_recorded_value(tmp_path: Path) -> None:
    path = tmp_path / "reuse.mcap"
    composite_pipeline().record(path, steps=5, dt=0.1)
    msgs = open_recording(path).messages("reuse", "out")
    assert [int(m["pixels"][0, 0]) for _, _, m in msgs] == [1, 2, 3, 4, 5]
    assert all(m["pixels"].dtype == np.uint16 for _, _, m in msgs)


def test_the_default_recorder_is_the_writer_process(tmp_path: Path) -> None:
    ir = stepper_for(composite_pipeline()).ir
    rec = open_recorder(ir, RecordConfig(path=tmp_path / "a.rrd"))
    try:
        assert isinstance(rec, OffloadRecorder)
    finally:
        rec.close()
    # each step on disk before the next: written on the stepping thread
    inline = open_recorder(ir, RecordConfig(path=tmp_path / "b.rrd", flush_every_step=True))
    assert isinstance(inline, Recorder)
    inline.close()


def test_a_step_after_close_is_refused_and_the_file_keeps_what_came_before(
        tmp_path: Path) -> None:
    pipe = composite_pipeline()
    stepper = stepper_for(pipe)
    path = tmp_path / "closed.mcap"
    rec = OffloadRecorder(stepper.ir, RecordConfig(path=path))
    stepper.observers.append(rec)
    try:
        for _ in range(3):
            stepper.step(dt=0.1)
        rec.close()
        with pytest.raises(RecordingError, match="already closed") as err:
            stepper.step(dt=0.1)
        assert err.value.code == "RET809"
    finally:
        stepper.observers.remove(rec)
        pipe.close_stepper()
    assert len(open_recording(path).messages("reuse", "out")) == 3


def test_a_value_that_cannot_be_recorded_is_named(tmp_path: Path) -> None:
    pipe = Pipeline("bad")
    pipe.add((Bad() @ Rate(hz=10)).named("bad"))
    with pytest.raises(RecordingError) as err:
        pipe.record(tmp_path / "bad.mcap", steps=2, dt=0.1)
    assert err.value.code == "RET809"
    assert "flows/bad/out/pixels" in str(err.value)


def test_a_file_that_cannot_be_opened_fails_at_once(tmp_path: Path) -> None:
    ir = stepper_for(composite_pipeline()).ir
    with pytest.raises(RecordingError) as err:
        OffloadRecorder(ir, RecordConfig(path=tmp_path / "missing" / "dir" / "x.mcap"))
    assert "x.mcap" in str(err.value)


def _await_messages(path: Path, count: int, timeout: float = 30.0) -> None:
    """Wait until the recording at ``path`` (still being written) holds ``count``
    messages of ``reuse.out``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncated: still being written
                if len(open_recording(path).messages("reuse", "out")) >= count:
                    return
        except RecordingError:
            pass  # not readable yet
        assert time.monotonic() < deadline, f"the writer never wrote {count} messages"
        time.sleep(0.02)


def test_a_killed_writer_is_reported_and_its_files_still_read(tmp_path: Path) -> None:
    pipe = composite_pipeline()
    stepper = stepper_for(pipe)
    path = tmp_path / "killed.mcap"
    rec = OffloadRecorder(stepper.ir, RecordConfig(path=path, flush_interval=0.0))
    stepper.observers.append(rec)
    try:
        for _ in range(3):
            stepper.step(dt=0.1)
        rec._send()
        _await_messages(path, 3)  # the writer wrote and flushed them
        os.kill(rec._pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        with pytest.raises(RecordingError) as err:
            while time.monotonic() < deadline:  # a hand-over soon notices
                stepper.step(dt=0.1)
                time.sleep(0.001)
        assert "was killed by signal 9" in str(err.value)
        assert err.value.code == "RET809"
    finally:
        stepper.observers.remove(rec)
        pipe.close_stepper()
    with pytest.warns(Warning):
        rec_file = open_recording(path)
    assert len(rec_file.messages("reuse", "out")) >= 3


SCRIPT = textwrap.dedent("""
    import sys, time
    from tests.test_record_offload import composite_pipeline
    from retriever.record import OffloadRecorder, RecordConfig
    from retriever.rt.facade import stepper_for
    pipe = composite_pipeline()
    stepper = stepper_for(pipe)
    rec = OffloadRecorder(stepper.ir, RecordConfig(path=sys.argv[1]))
    stepper.observers.append(rec)
    for k in range(20):
        stepper.step(dt=0.1)
        time.sleep(0.03)  # longer than the hand-over interval: every step is sent
    print("stepped", flush=True)
    time.sleep(60)
""")


def test_a_killed_recorder_leaves_finished_files(tmp_path: Path) -> None:
    path = tmp_path / "orphan.rrd"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(path)], cwd=root,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "stepped"
        time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while True:  # the orphaned writer sees the end of the pipe and finishes the file
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # still being finished
                rec = open_recording(path)
            if not rec.truncated and len(rec.messages("reuse", "out")) >= 19:
                break
        except RecordingError:
            pass  # not readable yet: the writer is still finishing it
        assert time.monotonic() < deadline, "the writer did not finish the file"
        time.sleep(0.2)
    assert [int(m["pixels"][0, 0]) for _, _, m in rec.messages("reuse", "out")][:19] == \
        list(range(1, 20))


BUSY_CPU = textwrap.dedent("""
    import os, subprocess, sys
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one CPU for all of us
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # keeps it busy
    from tests.test_record_offload import composite_pipeline
    from retriever.record import OffloadRecorder, RecordConfig
    from retriever.rt.facade import stepper_for
    try:
        stepper = stepper_for(composite_pipeline())
        rec = OffloadRecorder(stepper.ir, RecordConfig(path=sys.argv[1]))
        print(os.sched_getscheduler(rec._pid) == os.SCHED_IDLE, flush=True)
    finally:
        hog.kill()
        hog.wait()
    rec.close()
""")


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_the_writer_starts_at_normal_priority_and_then_yields(tmp_path: Path) -> None:
    """The recording process waits while its writer imports and opens the files: at
    idle priority on a CPU kept busy, that wait lasted as long as the load did."""
    root = Path(__file__).resolve().parent.parent
    # its own process group: the busy process and the writer go with it in any case
    proc = subprocess.Popen([sys.executable, "-c", BUSY_CPU, str(tmp_path / "busy.rrd")],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert out.split() == ["True"]  # ready, it yields to the pipeline


def test_writer_config_is_checked() -> None:
    from retriever.contract.errors import ConfigError
    with pytest.raises(ConfigError, match="writer"):
        RecordConfig(path="x.rrd", writer="thread")


# ------------------------------------------------------------ the writer's error reports

def test_a_writer_failure_arrives_through_an_error_record(tmp_path: Path) -> None:
    # the writer cannot create its file: it says so on its status pipe with the
    # runtime's one error transport, and the recording process raises the same error
    ir = stepper_for(composite_pipeline()).ir
    path = tmp_path / "no" / "such" / "dir" / "x.mcap"
    pid, handover, status = start_writer(ir, RecordConfig(path=path))
    try:
        os.waitpid(pid, 0)
        with os.fdopen(status, "rb") as pipe:
            line = pipe.readline()
    finally:
        handover.close()
    msg = status_message(line, "elsewhere.mcap")
    assert msg[0] == "error"
    record = msgspec.convert(msg[1], ErrorRecord)
    assert record.kind == "RecordingError" and record.code == "RET809"
    assert record.path == str(path) and "writable" in record.hint
    assert "[RET" not in record.message and str(path) not in record.message

    with pytest.raises(RecordingError) as err:
        OffloadRecorder(ir, RecordConfig(path=path))
    assert err.value.path == path and err.value.code == "RET809"
    assert "writable" in err.value.hint and "cannot be created" in err.value.problem
    text = str(err.value)
    assert text.startswith(f"[RET809] {path}: cannot be created")
    assert text.count("[RET") == 1 and text.count(str(path)) == 1
    assert text.count("hint:") == 1


def test_writer_errors_keep_their_code_hint_and_file() -> None:
    full = writer_error(error_record(OSError(errno.ENOSPC, "No space left on device"))
                        .pack(), "run.rrd")
    assert full.code == "RET809" and full.path == Path("run.rrd")
    assert "disk is full" in full.problem and "ulimit" in full.hint
    other = writer_error(error_record(KeyError("k")).pack(), "run.rrd")
    assert other.code == "RET809" and "the recording writer failed: KeyError" in str(other)
    named = RecordingError("a.mcap", "broken", code="RET801", hint="look")
    back = writer_error(error_record(named).pack(), "elsewhere.mcap")
    assert (back.path, back.problem, back.code, back.hint) == (Path("a.mcap"), "broken",
                                                                "RET801", "look")
    assert str(back) == str(named)


@pytest.mark.parametrize("line", [
    b"not json", b'{"error": 1}', b"[]", b'["error"]', b'["done", "many"]',
    b'["shutdown", 1]', b'["error", {"message": "x"}, 3]', b"[1, 2]"])
def test_a_malformed_status_line_is_a_typed_error(line: bytes) -> None:
    with pytest.raises(RecordingError, match="malformed status message") as err:
        status_message(line, "run.mcap")
    assert err.value.code == "RET809" and err.value.path == Path("run.mcap")


@pytest.mark.parametrize("payload", [
    "os.system('true')", 5, None, {"message": "no kind"}, {"kind": 3},
    {"kind": "RecordingError", "code": ["RET809"]}])
def test_a_malformed_error_record_is_a_typed_error(payload: Any) -> None:
    err = writer_error(payload, "run.mcap")  # nothing in it is run or looked up
    assert isinstance(err, RecordingError) and err.code == "RET809"
    assert err.path == Path("run.mcap") and "malformed error report" in err.problem
