"""Faults on the multiprocessing backend: flow errors, dead workers, restart policies,
and what is left behind afterwards (nothing)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from retriever.contract.errors import FlowError
from retriever.flow import Latest, Pipeline, Rate, TemporalFlow, Trigger

from . import mp_flows as F
from .fault_support import Leaks, wait_until


@pytest.fixture
def clean() -> object:
    """Asserts that a test leaves no process, shared-memory segment, memfd or temp file."""
    leaks = Leaks()
    yield None
    leaks.assert_clean(5.0)


def _with_sink(tmp_path: Path, src: TemporalFlow) -> Pipeline:
    pipe = Pipeline("faults")
    pipe.add(src.named("bad"))
    sink = (F.NumLog(str(tmp_path / "sink.log")) @ Trigger("value", "pid")).named("sink")
    pipe.connect(src, sink, sync=Latest())
    return pipe


def _rows_of_second_incarnation(log: Path) -> int:
    """Rows the sink logged from a source process other than the first one it saw."""
    srcs = [r["src"] for r in F.read_log(log)[0]]
    return sum(1 for s in srcs if s != srcs[0])


def test_flow_exception_stops_the_run_with_its_traceback(tmp_path: Path, clean: object) -> None:
    pipe = _with_sink(tmp_path, F.Raiser(at=4) @ Rate(hz=50))
    t = time.monotonic()
    with pytest.raises(FlowError) as info:
        pipe.run(backend="multiprocessing", duration=30)
    assert time.monotonic() - t < 15
    err = info.value
    assert err.flow == "bad"
    assert "ValueError" in str(err) and "raiser failed at step 4" in err.traceback_text
    assert "mp_flows.py" in err.traceback_text  # the worker's traceback, not ours
    rows, finals = F.read_log(tmp_path / "sink.log")
    assert [r["v"] for r in rows] == [1, 2, 3] and len(finals) == 1


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_dead_worker_is_detected_and_named(tmp_path: Path, clean: object, sig: int) -> None:
    marker = str(tmp_path / "crashed")
    pipe = _with_sink(tmp_path, F.Crasher(at=5, marker=marker, sig=int(sig)) @ Rate(hz=50))
    t = time.monotonic()
    with pytest.raises(FlowError) as info:
        pipe.run(backend="multiprocessing", duration=30)
    assert time.monotonic() - t < 15
    assert info.value.flow == "bad"
    assert signal.Signals(sig).name in str(info.value)
    assert F.read_log(tmp_path / "sink.log")[1]  # the survivor was finalized


def test_restart_on_failure_restarts_the_process(tmp_path: Path, clean: object) -> None:
    marker = str(tmp_path / "crashed")
    src = (F.Crasher(at=5, marker=marker, times=1) @ Rate(hz=50)).restart_policy(
        "on-failure", max_restarts=3, window=30)
    # Wait for the event, not a fixed duration: a restarted worker is a new interpreter
    # in portable mode, which may take longer than a short run lasts on a loaded machine.
    handle = _with_sink(tmp_path, src).run(backend="multiprocessing", blocking=False)
    try:
        wait_until(lambda: not handle.running or _rows_of_second_incarnation(
            tmp_path / "sink.log") >= 10, "ten values from the restarted source")
    finally:
        report = handle.stop()
    assert report.error is None
    assert report.flows["bad"].restarts == 1 and report.flows["sink"].restarts == 0
    rows, _ = F.read_log(tmp_path / "sink.log")
    assert len({r["src"] for r in rows}) == 2  # two incarnations of the source
    assert [r["v"] for r in rows][:4] == [1, 2, 3, 4]
    assert report.flows["bad"].steps >= 10


def test_restart_after_a_flow_exception(tmp_path: Path, clean: object) -> None:
    src = (F.Raiser(at=3, marker=str(tmp_path / "m"), times=1) @ Rate(hz=50)).restart_policy(
        "on-failure")
    handle = _with_sink(tmp_path, src).run(backend="multiprocessing", blocking=False)
    try:
        wait_until(lambda: not handle.running or _rows_of_second_incarnation(
            tmp_path / "sink.log") >= 1, "a value from the restarted source")
    finally:
        report = handle.stop()
    assert report.error is None and report.flows["bad"].restarts == 1


def test_restart_limit_ends_the_run(tmp_path: Path, clean: object) -> None:
    marker = str(tmp_path / "crashed")
    src = (F.Crasher(at=3, marker=marker, times=10) @ Rate(hz=50)).restart_policy(
        "always", max_restarts=2, window=60)
    handle = _with_sink(tmp_path, src).run(backend="multiprocessing", duration=30,
                                           blocking=False)
    with pytest.raises(FlowError) as info:
        handle.wait(30)
    assert "SIGKILL" in str(info.value)
    assert handle.report.flows["bad"].restarts == 2
    assert Path(marker).read_text() == "xxx"


def test_clean_after_normal_run(tmp_path: Path, clean: object) -> None:
    big = (F.FrameSource(480, 640) @ Rate(hz=30)).named("cam")
    pipe = Pipeline("clean")
    pipe.add(big)
    pipe.connect(big, (F.FrameLog(str(tmp_path / "f.log")) @ Trigger("image")).named("chk"),
                 sync=Latest())
    pipe.run(backend="multiprocessing", duration=0.4)
    assert F.read_log(tmp_path / "f.log")[1]
