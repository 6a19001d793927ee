"""The dora backend on real dora (``dora run``): semantics, errors, lag, clean-up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import FlowError, LagError
from retriever.flow import Pipeline

from . import dora_flows as F
from .fault_support import wait_until

pytestmark = pytest.mark.skipif(not F.dora_installed(),
                                reason="dora-rs / dora-rs-cli / pyarrow not installed")


def _run(pipe: Pipeline, duration: float = 1.0, **options: Any) -> tuple[Any, Any]:
    handle = pipe.run(backend="dora", duration=duration, blocking=False, echo=False,
                      **options)
    try:
        report = handle.wait(90)
    finally:
        if handle.running:
            handle.stop()
    return handle, report


def test_rate_to_trigger_matches_the_stepper(tmp_path: Path) -> None:
    ref = tmp_path / "stepper.json"
    pipe = F.basic(str(ref))
    for _ in range(8):
        pipe.step(dt=0.05)
    pipe.close_stepper()
    expected = json.loads(ref.read_text())["seen"]
    assert expected == list(range(8))

    out = tmp_path / "dora.json"
    handle, report = _run(F.basic(str(out)))
    seen = json.loads(out.read_text())["seen"]
    # Every published message arrives once, whole and in order: the stepper's sequence.
    assert len(seen) >= 5
    assert seen == list(range(len(seen)))
    assert report.flows["recorder"].steps == len(seen)
    assert report.flows["counter"].steps >= len(seen)
    assert report.backend == "dora" and report.error is None
    F.assert_clean(handle)


@pytest.mark.parametrize("policy", ["per-flow", "single"])
def test_composite_flows_match_the_stepper(tmp_path: Path, policy: str) -> None:
    ref = tmp_path / "stepper.json"
    pipe = F.composite(str(ref))
    for _ in range(6):
        pipe.step(dt=0.05)
    pipe.close_stepper()
    expected = json.loads(ref.read_text())["totals"]
    assert expected == [1.5 * k for k in range(1, 7)]

    out = tmp_path / "dora.json"
    handle, report = _run(F.composite(str(out)), policy=policy)
    totals = json.loads(out.read_text())["totals"]
    assert len(totals) >= 5
    assert totals == [1.5 * k for k in range(1, len(totals) + 1)]
    assert report.flows["fuse"].steps == report.flows["log"].steps == len(totals)
    F.assert_clean(handle)


def test_large_arrays_arrive_whole(tmp_path: Path) -> None:
    out = tmp_path / "frames.json"
    handle, _ = _run(F.frames(str(out), hz=20, shape=(240, 320, 3), qsize=2), duration=1.0)
    data = json.loads(out.read_text())
    assert len(data["seen"]) >= 5 and data["bad"] == 0
    assert data["seen"] == list(range(len(data["seen"])))
    F.assert_clean(handle)


@pytest.mark.parametrize("tick", [False, True])
def test_lag_error_stops_the_run_naming_the_flow(tick: bool) -> None:
    handle = F.lagging("error", delay=0.06, hz=50, tick=tick).run(
        backend="dora", duration=10.0, blocking=False, echo=False)
    with pytest.raises(LagError) as info:
        handle.wait(90)
    assert info.value.flow == "sleepy" and info.value.code == "RET401"
    assert "on_lag='error'" in str(info.value)
    F.assert_clean(handle)


@pytest.mark.parametrize("policy", ["warn", "drop"])
def test_lag_warn_and_drop_skip_missed_ticks(policy: str) -> None:
    handle, report = _run(F.lagging(policy, delay=0.06, hz=50, slow_steps=6), duration=1.0)
    stats = report.flows["sleepy"]
    assert stats.lag_events >= 1 and stats.skipped_ticks >= 1
    F.assert_clean(handle)


def test_lag_catch_up_runs_every_tick() -> None:
    handle, report = _run(F.lagging("catch_up", delay=0.06, hz=50, slow_steps=6),
                          duration=1.0)
    stats = report.flows["sleepy"]
    assert stats.lag_events >= 1 and stats.skipped_ticks == 0
    F.assert_clean(handle)


@pytest.mark.parametrize("hard", [False, True])
def test_flow_failure_reaches_the_caller(hard: bool) -> None:
    handle = F.failing(hard).run(backend="dora", duration=20.0, blocking=False, echo=False)
    with pytest.raises(FlowError) as info:
        handle.wait(90)
    assert info.value.flow == "exploder"
    if hard:
        assert "died" in str(info.value)
    else:
        assert "kaboom at the third message" in str(info.value)
        assert "ValueError" in info.value.traceback_text
    F.assert_clean(handle)


def test_same_pipeline_twice_in_a_row(tmp_path: Path) -> None:
    out = tmp_path / "twice.json"
    pipe = F.basic(str(out))
    # the first run bounds zenoh's open wait (the default), the second keeps zenoh's own
    for wait, overlay in ((0.02, {"scouting": {"delay": 20}}), (None, None)):
        report = pipe.run(backend="dora", duration=0.5, echo=False, zenoh_open_wait=wait)
        assert report.flows["recorder"].steps >= 1
        data = json.loads(out.read_text())
        assert data["seen"] == list(range(len(data["seen"])))
        assert data["zenoh_overlay"] == overlay  # what the node's zenoh session read
        out.unlink()
    assert F.processes_owned_by(os.getpid()) == []


def test_stop_before_duration_finalizes_flows(tmp_path: Path) -> None:
    out = tmp_path / "stop.json"
    handle = F.basic(str(out)).run(backend="dora", blocking=False, echo=False)
    try:
        deadline = time.monotonic() + 60
        while not handle.started and time.monotonic() < deadline:
            handle.wait(0.1)
        assert handle.started
    finally:
        report = handle.stop()
    assert report.flows["counter"].steps >= 0
    assert json.loads(out.read_text())["seen"] is not None  # finalize ran in the node
    F.assert_clean(handle)


def _restarting(tmp_path: Path, src: Any) -> Any:
    from retriever.flow import Latest, Rate, Trigger

    from . import mp_flows as M

    pipe = Pipeline("dora-restart")
    bad = (src @ Rate(hz=50)).named("bad")
    pipe.add(bad)
    sink = (M.NumLog(str(tmp_path / "sink.log")) @ Trigger("value", "pid")).named("sink")
    pipe.connect(bad, sink, sync=Latest())
    return pipe, bad


def test_restart_policy_restarts_the_node(tmp_path: Path) -> None:
    from . import mp_flows as M

    pipe, bad = _restarting(tmp_path, M.Raiser(at=3, marker=str(tmp_path / "m"), times=1))
    bad.restart_policy("on-failure", max_restarts=3, window=30)
    # until the restarted node delivered (a new interpreter: slow on a loaded machine)
    handle = pipe.run(backend="dora", duration=None, blocking=False, echo=False)
    def restarted_delivered() -> bool:
        rows = M.read_log(tmp_path / "sink.log")[0]
        return len({r["src"] for r in rows}) == 2 and len(rows) >= 4

    try:
        wait_until(lambda: not handle.running or restarted_delivered(),
                   "two values from the restarted node", timeout=90)
    finally:
        report = handle.stop()
    assert report.error is None
    assert report.flows["bad"].restarts == 1 and report.flows["sink"].restarts == 0
    rows, finals = M.read_log(tmp_path / "sink.log")
    values = [r["v"] for r in rows]
    assert values[:2] == [1, 2] and values[2:4] == [1, 2]  # a second incarnation
    assert len({r["src"] for r in rows}) == 2 and len(finals) == 1
    assert report.flows["bad"].steps >= len(values)  # counters of both incarnations
    F.assert_clean(handle)


def test_restart_limit_ends_the_run(tmp_path: Path) -> None:
    from . import mp_flows as M

    marker = tmp_path / "crashed"
    pipe, bad = _restarting(tmp_path, M.Crasher(at=3, marker=str(marker), times=10))
    bad.restart_policy("always", max_restarts=2, window=60)
    handle = pipe.run(backend="dora", duration=30, blocking=False, echo=False)
    with pytest.raises(FlowError) as info:
        handle.wait(90)
    assert info.value.flow == "bad" and "died" in str(info.value)
    assert handle.report.flows["bad"].restarts == 2
    assert marker.read_text() == "xxx"
    F.assert_clean(handle)
