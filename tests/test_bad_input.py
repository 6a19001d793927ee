"""Every public argument is checked where it is given: a typed ``ConfigError`` from the
call that received a bad value, before any process starts or file is opened."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import ConfigError
from retriever.flow import EdgeConfig, Hybrid, Latest, Pipeline, Rate, Tick, Trigger
from retriever.ir import IR, allow_imports
from retriever.record import RecordConfig
from retriever.rt.execute import execute_ir

from .core_flows import AddOne, Source


def _pipe() -> Pipeline:
    pipe = Pipeline("bad_input")
    pipe.connect(Source() @ Rate(hz=50), AddOne() @ Rate(hz=50), sync=Latest())
    return pipe


CLOCKS: dict[str, Callable[[], Any]] = {
    "hz str": lambda: Rate(hz="10"),  # type: ignore[arg-type]
    "hz bool": lambda: Rate(hz=True),
    "hz tiny": lambda: Rate(hz=1e-300),
    "hz huge": lambda: Tick(hz=1e9),
    "hz nan": lambda: Rate(hz=float("nan")),
    "on_lag list": lambda: Rate(hz=10, on_lag=["error"]),  # type: ignore[arg-type]
    "on_lag unknown": lambda: Rate(hz=10, on_lag="sometimes"),
    "trigger empty name": lambda: Trigger(""),
    "trigger int": lambda: Trigger(3),  # type: ignore[arg-type]
    "hybrid trigger None": lambda: Hybrid(10, trigger=None),  # type: ignore[arg-type]
    "hybrid trigger int": lambda: Hybrid(10, trigger=[1]),  # type: ignore[list-item]
    "qsize bool": lambda: EdgeConfig(qsize=True),
    "on_full list": lambda: EdgeConfig(on_full=["drop"]),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("make", list(CLOCKS.values()), ids=list(CLOCKS))
def test_clock_and_edge_arguments(make: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError):
        make()


def test_valid_clocks_still_work() -> None:
    assert Rate(hz=1e-6).hz == 1e-6 and Rate(hz=100_000).hz == 100_000
    assert Rate(hz=30, on_lag="panic").on_lag == "error"
    assert Hybrid(10, trigger="cmd").trigger == ("cmd",)


RUNS: dict[str, Callable[[Pipeline], Any]] = {
    "duration str": lambda p: p.run(duration="x"),
    "duration negative": lambda p: p.run(duration=-1),
    "duration nan": lambda p: p.run(duration=float("nan"), backend="in-process"),
    "duration bool": lambda p: p.run(duration=True, backend="in-process"),
    "backend not a str": lambda p: p.run(duration=0.1, backend=3),
    "blocking not a bool": lambda p: p.run(duration=0.1, blocking="no"),
    "shm_slots zero": lambda p: p.run(duration=0.1, shm_slots=0),
    "shm_slots str": lambda p: p.run(duration=0.1, shm_slots="4"),
    "stop_timeout negative": lambda p: p.run(duration=0.1, stop_timeout=-1),
    "unknown in-process option": lambda p: p.run(duration=0.1, backend="in-process", bogus=1),
    "realtime not a bool": lambda p: p.run(duration=0.1, backend="in-process", realtime=1),
    "step dt str": lambda p: p.step(dt="x"),
    "step dt zero": lambda p: p.step(dt=0),
    "step now str": lambda p: p.step(now="x"),
    "record steps negative": lambda p: p.record("x.mcap", steps=-1),
    "record steps str": lambda p: p.record("x.mcap", steps="3"),
    "record dt zero": lambda p: p.record("x.mcap", steps=2, dt=0),
}


@pytest.mark.parametrize("call", list(RUNS.values()), ids=list(RUNS))
def test_run_step_record_arguments(call: Callable[[Pipeline], Any], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    children_before = _children()
    with pytest.raises(ConfigError):
        call(_pipe())
    assert _children() == children_before  # refused before any worker was forked
    assert not (tmp_path / "x.mcap").exists()  # and before any file was opened


def test_execute_ir_arguments() -> None:
    ir = IR.from_json(_pipe().validate().to_json())
    for kwargs in ({"duration": "x"}, {"duration": -1.0}, {"blocking": None},
                   {"allow_source_exec": "yes"}):
        with pytest.raises(ConfigError):
            execute_ir(ir, "multiprocessing", **kwargs)  # type: ignore[arg-type]


def _children() -> set[int]:
    task = Path(f"/proc/{os.getpid()}/task")
    found: set[int] = set()
    for t in task.iterdir():
        children = t / "children"
        if children.exists():
            found.update(int(x) for x in children.read_text().split())
    return found


AUTHORING: dict[str, Callable[[], Any]] = {
    "pipeline name": lambda: Pipeline(3),  # type: ignore[arg-type]
    "default_sync not an adapter": lambda: Pipeline("p", default_sync="latest"),  # type: ignore[arg-type]
    "node name": lambda: (Source() @ Rate(hz=5)).named(""),
    "machine": lambda: (Source() @ Rate(hz=5)).deploy(machine=3),  # type: ignore[arg-type]
    "labels": lambda: (Source() @ Rate(hz=5)).deploy(labels=[1]),  # type: ignore[arg-type]
    "max_restarts": lambda: (Source() @ Rate(hz=5)).restart_policy("always", max_restarts=-1),
    "restart window": lambda: (Source() @ Rate(hz=5)).restart_policy("always", window=0),
    "flush_interval": lambda: RecordConfig(path="a.mcap", flush_interval=-1),
    "record inputs": lambda: RecordConfig(path="a.mcap", inputs="yes"),  # type: ignore[arg-type]
    "record path": lambda: RecordConfig(path=3),  # type: ignore[arg-type]
    "allow_imports": lambda: allow_imports(3),  # type: ignore[arg-type]
    "live": lambda: _pipe().run(backend="in-process", duration=0.1, live={}),
}


@pytest.mark.parametrize("make", list(AUTHORING.values()), ids=list(AUTHORING))
def test_authoring_and_record_arguments(make: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError):
        make()
