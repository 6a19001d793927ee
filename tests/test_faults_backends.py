"""The same faults on every backend: what the caller sees, what is left behind (nothing)
and what survives (everything accepted before the fault).

Backends: the stepper (where a fault can happen to it), ``in-process``,
``multiprocessing`` and ``dora``. Faults: a flow exception, a lag error, ``SIGKILL`` of
a worker, ``SIGKILL`` of the parent, Ctrl-C, ``stop()`` from another thread, a run
started from a thread that exits at once, and a full disk while recording. Parents
that get killed or interrupted are separate processes (:mod:`tests.fault_parent`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.contract.errors import FlowError, LagError
from retriever.flow import Latest, Pipeline, Rate, TemporalFlow, Trigger

from . import dora_flows
from . import mp_flows as F
from .fault_parent import options, pipeline
from .fault_support import Leaks, alive, children, dora_processes, orphaned_shm, temp_entries

ROOT = Path(__file__).resolve().parent.parent
needs_dora = pytest.mark.skipif(not dora_flows.dora_installed(),
                                reason="dora-rs / dora-rs-cli / pyarrow not installed")


def backends(*names: str) -> list[Any]:
    """``names`` as parameters (dora ones skipped without dora)."""
    return [pytest.param(n, marks=needs_dora) if n == "dora" else n for n in names]


ALL = backends("in-process", "multiprocessing", "dora")
PROCESSES = backends("multiprocessing", "dora")


@pytest.fixture
def leaks() -> Any:
    """Fails the test if it left a process, segment, memfd, temp dir or dora process."""
    snapshot = Leaks()
    yield snapshot
    snapshot.assert_clean()


def _with_sink(tmp_path: Path, src: TemporalFlow) -> Pipeline:
    pipe = Pipeline("faults")
    pipe.add(src.named("bad"))
    sink = (F.NumLog(str(tmp_path / "sink.log")) @ Trigger("value")).named("sink")
    pipe.connect(src, sink, sync=Latest())
    return pipe


def _values(log: Path) -> list[int]:
    return [r["v"] for r in F.read_log(log)[0]]


def _wait_for_rows(log: Path, rows: int = 3, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(F.read_log(log)[0]) < rows:
        assert time.monotonic() < deadline, "the sink never logged"
        time.sleep(0.02)


def _contiguous(values: list[int]) -> bool:
    return values == list(range(1, len(values) + 1))


# ------------------------------------------------------------------ flow exception

def test_flow_exception_on_the_stepper(tmp_path: Path, leaks: Leaks) -> None:
    pipe = _with_sink(tmp_path, F.Raiser(at=4) @ Rate(hz=50))
    with pytest.raises(FlowError) as info:
        for _ in range(10):
            pipe.step(dt=0.02)
    pipe.close_stepper()
    assert info.value.flow == "bad" and "raiser failed at step 4" in str(info.value)
    rows, finals = F.read_log(tmp_path / "sink.log")
    assert [r["v"] for r in rows] == [1, 2, 3] and len(finals) == 1


@pytest.mark.parametrize("backend", ALL)
def test_flow_exception(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    pipe = _with_sink(tmp_path, F.Raiser(at=4) @ Rate(hz=50))
    with pytest.raises(FlowError) as info:
        pipe.run(backend=backend, duration=30, **options(backend))
    err = info.value
    assert err.flow == "bad" and err.code == "RET400"
    assert "raiser failed at step 4" in str(err) + err.traceback_text
    rows, finals = F.read_log(tmp_path / "sink.log")
    assert [r["v"] for r in rows] == [1, 2, 3]  # everything published before the error
    assert len(finals) == 1  # and the survivor was finalized


# ------------------------------------------------------------------ lag error

@pytest.mark.parametrize("backend", ALL)
def test_lag_error(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    pipe = Pipeline("lag")
    log = tmp_path / "slow.log"
    pipe.add((F.SlowTick(str(log), delay=0.06) @ Rate(hz=50, on_lag="error")).named("slow"))
    with pytest.raises(LagError) as info:
        pipe.run(backend=backend, duration=30, **options(backend))
    assert info.value.flow == "slow" and info.value.code == "RET401"
    rows, finals = F.read_log(log)
    assert rows and len(finals) == 1  # the lagging flow itself was finalized


# ------------------------------------------------------------------ SIGKILL of a worker

@pytest.mark.parametrize("backend", PROCESSES)
def test_sigkill_of_a_worker(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    marker = str(tmp_path / "killed")
    pipe = _with_sink(tmp_path, F.Crasher(at=5, marker=marker) @ Rate(hz=50))
    with pytest.raises(FlowError) as info:
        pipe.run(backend=backend, duration=30, **options(backend))
    assert info.value.flow == "bad"
    assert Path(marker).read_text() == "x"
    rows, finals = F.read_log(tmp_path / "sink.log")
    assert [r["v"] for r in rows] == [1, 2, 3, 4] and len(finals) == 1


# ------------------------------------------------------------------ the parent dies / Ctrl-C

def _parent(backend: str, mode: str, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.fault_parent", backend, mode,
                             str(log)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "READY", f"the parent said {line!r} (exit {proc.poll()})"


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        kids = children(todo.pop())
        todo.extend(kids - found)
        found |= kids
    return found


@pytest.mark.parametrize("backend", ALL)
def test_sigkill_of_the_parent(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    log = tmp_path / "sink.log"
    shm = set(os.listdir("/dev/shm"))
    proc = _parent(backend, "hold", log)
    try:
        _ready(proc)
        started = _descendants(proc.pid) | set(dora_processes(proc.pid))
        if backend != "in-process":
            assert started, "the run started no process"
    finally:
        proc.kill()
        proc.wait(30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
            [p for p in started if alive(p)] or dora_processes(proc.pid)):
        time.sleep(0.1)
    assert not [p for p in started if alive(p)], "processes outlived their parent"
    assert dora_processes(proc.pid) == []
    values = _values(log)
    assert len(values) >= 3 and _contiguous(values)  # what was accepted is still there
    if backend != "in-process":  # its flows died with the parent
        # the workers / dora nodes saw the parent go, stopped and finalized their flows
        assert len(F.read_log(log)[1]) == 1
    # nothing of dora's or ours is left in /dev/shm (entries other runs hold are theirs)
    while time.monotonic() < deadline and orphaned_shm(set(os.listdir("/dev/shm")) - shm):
        time.sleep(0.1)
    assert orphaned_shm(set(os.listdir("/dev/shm")) - shm) == set()


@needs_dora
def test_dora_nodes_stop_by_themselves_when_the_guard_dies_too(tmp_path: Path,
                                                              leaks: Leaks) -> None:
    """Without the guard, each node's watch on the owner's pid still stops it cleanly."""
    log = tmp_path / "sink.log"
    proc = _parent("dora", "hold", log)
    try:
        _ready(proc)
        guards = [p for p in children(proc.pid)
                  if b"guard.py" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(guards) == 1
        os.kill(guards[0], signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and dora_processes(proc.pid):
        time.sleep(0.1)
    assert dora_processes(proc.pid) == []  # nodes, then `dora run`, ended by themselves
    rows, finals = F.read_log(log)
    assert len(finals) == 1 and _contiguous([r["v"] for r in rows])
    # only the guard removes the run's directory: this test does it instead
    for name in temp_entries() - leaks.tmp:
        if name.startswith("retriever-dora-"):
            shutil.rmtree(Path(tempfile.gettempdir()) / name)


@pytest.mark.parametrize("backend", ALL)
def test_ctrl_c(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    log = tmp_path / "sink.log"
    proc = _parent(backend, "block", log)
    try:
        _ready(proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and "INTERRUPTED" in out
    rows, finals = F.read_log(log)
    assert len(finals) == 1  # the sink was finalized before the caller saw the interrupt
    assert _contiguous([r["v"] for r in rows])
    assert dora_processes(proc.pid) == []


# ------------------------------------------------------------------ threads

@pytest.mark.parametrize("backend", ALL)
def test_stop_from_another_thread(backend: str, tmp_path: Path, leaks: Leaks) -> None:
    log = tmp_path / "sink.log"
    handle = pipeline(str(log)).run(backend=backend, duration=None, blocking=False,
                                    **options(backend))
    try:
        _wait_for_rows(log)
    finally:
        stopper = threading.Thread(target=handle.stop)
        stopper.start()
        stopper.join(60)
    assert not stopper.is_alive()
    report = handle.wait(30)
    assert report is not None and report.error is None
    rows, finals = F.read_log(log)
    assert len(finals) == 1 and _contiguous([r["v"] for r in rows])
    assert report.flows["sink"].steps == len(rows)


@pytest.mark.parametrize("backend", ALL)
def test_run_started_from_a_thread_that_exits(backend: str, tmp_path: Path,
                                              leaks: Leaks) -> None:
    log = tmp_path / "sink.log"
    box: list[Any] = []

    def start() -> None:
        box.append(pipeline(str(log)).run(backend=backend, duration=None, blocking=False,
                                          **options(backend)))

    starter = threading.Thread(target=start)
    starter.start()
    starter.join(60)
    handle = box[0]
    try:
        _wait_for_rows(log)
        before = len(F.read_log(log)[0])
        _wait_for_rows(log, before + 5)  # still running after the thread is gone
        assert handle.running
    finally:
        report = handle.stop()
    rows, finals = F.read_log(log)
    assert len(finals) == 1 and _contiguous([r["v"] for r in rows])
    assert report.flows["sink"].steps == len(rows)


# ------------------------------------------------------------------ full disk

@pytest.mark.parametrize("suffix", [".mcap", ".rrd"])
@pytest.mark.parametrize("backend", ["stepper", "in-process"])
def test_full_disk_while_recording(backend: str, suffix: str, tmp_path: Path,
                                   leaks: Leaks) -> None:
    pytest.importorskip("mcap" if suffix == ".mcap" else "rerun")
    path = tmp_path / f"cut{suffix}"
    limit = 200_000
    out = subprocess.run([sys.executable, "-m", "tests.fault_parent", backend, "disk",
                          str(path), str(limit)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["error"] == "RecordingError" and seen["code"] == "RET809"
    assert str(path) in seen["message"] and "disk is full" in seen["message"]
    assert path.stat().st_size <= limit
    assert dora_flows.cmdlines_mentioning(str(path)) == []  # the writer is gone too

    from retriever.record import open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = open_recording(path)
    # Every frame written before the disk filled up replays, in order and intact (Rerun
    # writes the small ports in batches, so only the frames are sure to be there).
    frames = [v["image"] for _, _, v in rec.messages("cam") if "image" in v]
    assert len(frames) >= 5
    for k, image in enumerate(frames):  # the k-th frame is filled with k + 1
        assert image.shape == (48, 64, 3) and np.all(image == (k + 1) % 251)


# ------------------------------------------------------------------ overload

@pytest.mark.parametrize("backend", PROCESSES)  # in-process: one thread runs both flows
def test_slow_consumer_counts_every_dropped_message(backend: str, tmp_path: Path,
                                                    leaks: Leaks) -> None:
    """A ``Latest()`` consumer slower than its source: every message up to the last one
    it saw was either consumed or counted as dropped (on dora too: what dora's input
    queue dropped shows as a gap in the sender's numbering)."""
    log = tmp_path / "slow.log"
    pipe = Pipeline("overload")
    src = (F.Counter() @ Rate(hz=200)).named("src")
    pipe.add(src)
    pipe.connect(src, (F.NumLog(str(log), delay=0.02) @ Trigger("value")).named("slow"),
                 sync=Latest())
    report = pipe.run(backend=backend, duration=1.5, **options(backend))
    slow = report.flows["slow"]
    values = _values(log)
    assert values == sorted(values) and slow.steps == len(values)
    assert slow.dropped > slow.steps  # the source is ~4x faster
    assert slow.steps + slow.dropped == values[-1]
