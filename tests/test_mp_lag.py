"""Every on_lag policy on the multiprocessing backend (one LagTracker for all backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.contract.errors import LagError
from retriever.flow import Pipeline, Rate, Tick

from . import mp_flows as F


def _slow(tmp_path: Path, on_lag: str, tick: bool = False) -> Pipeline:
    pipe = Pipeline(f"lag-{on_lag}")
    clock = Tick(hz=50, on_lag=on_lag) if tick else Rate(hz=50, on_lag=on_lag)
    pipe.add((F.SlowTick(str(tmp_path / "slow.log"), delay=0.05) @ clock).named("slow"))
    pipe.add((F.TickLog(str(tmp_path / "ok.log")) @ Rate(hz=20)).named("ok"))
    return pipe


@pytest.mark.parametrize("on_lag", ["warn", "drop"])
def test_warn_and_drop_skip_missed_ticks(tmp_path: Path, on_lag: str) -> None:
    report = _slow(tmp_path, on_lag).run(backend="multiprocessing", duration=0.6)
    s = report.flows["slow"]
    assert s.lag_events > 0 and s.skipped_ticks > 0
    assert s.steps + s.skipped_ticks >= 20  # every tick either ran or was skipped
    assert report.flows["ok"].lag_events == 0


def test_catch_up_runs_every_tick(tmp_path: Path) -> None:
    report = _slow(tmp_path, "catch_up", tick=True).run(backend="multiprocessing",
                                                         duration=0.6)
    s = report.flows["slow"]
    assert s.lag_events > 0 and s.skipped_ticks == 0
    assert s.steps >= 8


@pytest.mark.parametrize("on_lag", ["error", "panic"])
def test_error_stops_the_run_naming_the_flow(tmp_path: Path, on_lag: str) -> None:
    pipe = _slow(tmp_path, on_lag)
    with pytest.raises(LagError) as info:
        pipe.run(backend="multiprocessing", duration=5.0)
    assert info.value.flow == "slow"
    assert "slow" in str(info.value) and "on_lag='error'" in str(info.value)
    # the other flow was stopped and finalized too
    assert F.read_log(tmp_path / "ok.log")[1]
    assert F.read_log(tmp_path / "slow.log")[1]
