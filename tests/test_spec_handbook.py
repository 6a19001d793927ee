"""The handbook's code blocks, completed minimally and otherwise verbatim.

Completions: the envelopes ``SrcOut``/``AddOut`` (the handbook shows only their use), a
sink that writes what it received to a file (worker processes cannot append to a list of
the test), and the stripped run calls of sections 4.1-4.3 and 8.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

import retriever
from retriever import RecordConfig
from retriever.contract.errors import ConfigError, ContractError, LagError
from retriever.flow import Events, Flow, Hold, Latest, Pipeline, Rate, Tick, Trigger, Window, io

from .spec_support import BACKENDS, JsonSink, dora_env, execute, read_lines, run_graph


@io
class SrcOut:
    value: int


@io
class AddOut:
    value: int


# --- handbook 2.2, verbatim
class Source(Flow[None, SrcOut]):
    def step(self, _): # type: ignore[override]
        return SrcOut(value=1)


class AddOne(Flow[SrcOut, AddOut]):
    def step(self, input: SrcOut) -> AddOut:
        return AddOut(value=input.value + 1)


class AddOutSink(JsonSink, Flow[AddOut, None]):
    pass


@pytest.fixture(autouse=True)
def _clean_defaults() -> Any:
    retriever.init(default_sync=None, default_on_lag=None)
    yield
    retriever.init(default_sync=None, default_on_lag=None)


def test_2_1_io_makes_fields_optional() -> None:
    assert typing.get_type_hints(SrcOut) == {"value": int | None}
    assert SrcOut().value is None and SrcOut()._signals() == []


def test_3_1_clocks() -> None:
    src = Source() @ Rate(hz=10) # periodic; samples inputs (default: all)
    tick_only = Source() @ Tick(hz=10) # periodic; samples no inputs
    event_driven = AddOne() @ Trigger("value")
    assert (src.clock.kind, tick_only.clock.kind, event_driven.clock.kind) == (
        "rate", "tick", "trigger")


def _clocked(path: str) -> Pipeline:
    # 3.1's event-driven AddOne fed by a periodic Source.
    pipe = Pipeline("demo")
    src = Source() @ Rate(hz=10)
    event_driven = AddOne() @ Trigger("value")
    pipe.connect(src, event_driven, sync=Latest())
    pipe.connect(event_driven, AddOutSink(path) @ Trigger("value"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", [*BACKENDS, "in-process"])
def test_3_1_trigger_runs_on_arrivals(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_clocked, backend, tmp_path, duration=1.0)
    assert len(seen) >= 2 and all(line == {"value": 2} for line in seen)


def test_3_2_connect_with_sync() -> None:
    pipe = Pipeline("demo")
    src = Source() @ Rate(hz=10)
    add = AddOne() @ Rate(hz=10)
    pipe.connect(src, add, sync=Latest())
    results = execute(pipe, "stepper", steps=3)
    assert [r.outputs["add_one"] for r in results] == [AddOut(value=2)] * 3


def test_3_2_with_pipe_and_rshift_without_sync() -> None:
    pipe = Pipeline("demo")
    with pipe:
        src = Source() @ Rate(hz=10)
        add = AddOne() @ Rate(hz=10)
        src >> add
    # Handles are tagged with `handle.pipeline = pipe`, so you can keep wiring later:
    more = AddOne() @ Rate(hz=10)
    add >> more
    assert add.pipeline is pipe and more.pipeline is pipe
    results = execute(pipe, "stepper", steps=2)
    assert results[-1].outputs["add_one"] == AddOut(value=2)
    # `more` reads AddOut.value through the same port name: 2 + 1.
    assert results[-1].outputs["add_one_2"] == AddOut(value=3)


def test_4_1_and_4_3_local_multiprocessing_blocking_and_not(tmp_path: Path) -> None:
    out = tmp_path / "mp.jsonl"
    report = _clocked(str(out)).run(backend="multiprocessing", duration=0.8)
    assert report.flows["add_one"].steps >= 2
    handle = _clocked(str(tmp_path / "bg.jsonl")).run(backend="multiprocessing",
                                                        duration=0.8, blocking=False)
    final = handle.wait()
    assert final is not None and not handle.running
    assert read_lines(out) and read_lines(tmp_path / "bg.jsonl")


def test_4_2_dora_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dora_env(monkeypatch)
    seen = run_graph(_clocked, "dora", tmp_path, duration=2.0)
    assert seen and all(line == {"value": 2} for line in seen)


def test_5_step_semantics() -> None:
    pipe = _clocked("/dev/null")
    first = pipe.step(dt=0.1)
    second = pipe.step(dt=0.1)
    pipe.close_stepper()
    # dt advances the logical clock; Rate runs every step; Trigger only on an arrival.
    assert (first.now, round(second.now, 9)) == (0.0, 0.1)
    assert "source" in first.executed and "add_one" in first.executed
    once = Pipeline("once")
    src = once.add(Once() @ Rate(hz=10))
    once.connect(src, AddOne() @ Trigger("value"), sync=Latest())
    executed = [r.executed for r in execute(once, "stepper", steps=3)]
    assert executed == [["once", "add_one"], ["once"], ["once"]]


class Once(Flow[None, SrcOut]):
    """Publishes on its first step only."""

    def reset(self) -> None:
        self.done = False

    def step(self, _: None) -> SrcOut | None:
        if self.done:
            return None
        self.done = True
        return SrcOut(value=1)


def _camera_pipe(path: str) -> Pipeline:
    pipe = Pipeline("camera")
    camera = (Counter() @ Rate(hz=10)).named("camera")
    pipe.connect(camera, AddOne() @ Trigger("value"), sync=Latest())
    pipe.connect(pipe.node("add_one"), AddOutSink(path) @ Trigger("value"), sync=Latest())
    return pipe


class Counter(Flow[None, SrcOut]):
    """A camera stand-in: 0, 1, 2, ..."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> SrcOut:
        self.n += 1
        return SrcOut(value=self.n - 1)


@pytest.mark.parametrize("suffix", [".rrd", ".mcap"])
def test_6_1_record_and_6_2_replay(suffix: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    pipe = _camera_pipe(str(tmp_path / "recorded.jsonl"))
    pipe.record(RecordConfig(path="session.rrd", mirrors=("session.mcap",)), steps=50, dt=0.1)
    assert Path("session.rrd").is_file() and Path("session.mcap").is_file()
    replayed = _camera_pipe(str(tmp_path / "replayed.jsonl"))
    camera = replayed.node("camera")
    # Inject recorded data into 'camera' flow
    replayed.replay(camera, path="session" + suffix) # `.mcap` works too
    replayed.step(dt=0.1)
    replayed.close_stepper()
    assert read_lines(tmp_path / "replayed.jsonl") == [{"value": 1}]


def test_6_1_run_with_record_needs_in_process(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="in-process"):
        _clocked(str(tmp_path / "x")).run(backend="multiprocessing", duration=0.2,
                                          record=str(tmp_path / "run.rrd"))
    _clocked(str(tmp_path / "x")).run(backend="in-process", duration=0.3,
                                      record=str(tmp_path / "run.rrd"))
    assert (tmp_path / "run.rrd").is_file()


def test_7_timed_buffers_and_adapters() -> None:
    buffer = [(0.0, 1.0), (0.5, 2.0), (1.0, 3.0)]  # TimedBuffer[T] = list[(timestamp, value)]
    assert Latest()(buffer, 0.7) == 2.0
    assert Hold()(buffer, 1.0) == 3.0
    assert Window(duration=1.0, agg="mean")(buffer, 1.0) == 2.0
    assert Events(duration=0.5)(buffer, 1.0) == [(0.5, 2.0), (1.0, 3.0)]


class Slow(Flow[None, SrcOut]):
    def step(self, _: None) -> SrcOut:
        import time

        time.sleep(0.25)
        return SrcOut(value=1)


@pytest.mark.parametrize("alias", ["error", "panic", "raise", "strict"])
def test_8_on_lag_error_and_its_aliases(alias: str) -> None:
    pipe = Pipeline("lag")
    pipe.add(Slow() @ Rate(hz=20, on_lag=alias))
    with pytest.raises(LagError):
        pipe.run(backend="in-process", duration=1.0)


def test_8_pipeline_wide_default_on_lag() -> None:
    pipe = Pipeline("lag", default_on_lag="drop")
    pipe.add(Source() @ Rate(hz=10))
    assert pipe.validate().nodes[0].clock.on_lag == "drop"
    plain = Pipeline("lag2")
    plain.add(Source() @ Rate(hz=10))
    retriever.init(default_on_lag="catch_up")
    assert plain.validate().nodes[0].clock.on_lag == "catch_up"


def test_5_5_notes_on_the_default_pipeline() -> None:
    # The block itself (multiprocessing run) is tested with the runtime core; its notes:
    pipe = Pipeline("scoped")
    with pipe:
        conn = retriever.connect(Source() @ Rate(hz=10), AddOne() @ Rate(hz=10),
                                 sync=Latest())
    assert conn.src.pipeline is pipe  # respects an active `with Pipeline(...):`
    retriever.reset_default_pipeline()
    with pytest.raises(ContractError, match="RET108"):  # no Latest() injected by connect
        retriever.connect(Source() @ Rate(hz=10), AddOne() @ Rate(hz=10))
    eager = retriever.reset_default_pipeline()
    assert retriever.default_pipeline() is eager and len(eager) == 0
    retriever.clear_default_pipeline()
    assert retriever.default_pipeline() is not eager  # recreated lazily on next access


def _connected(path: str) -> Pipeline:
    # 3.2, verbatim, plus a sink reading what AddOne publishes.
    pipe = Pipeline("demo")
    src = Source() @ Rate(hz=10)
    add = AddOne() @ Rate(hz=10)
    pipe.connect(src, add, sync=Latest())
    pipe.connect(add, AddOutSink(path) @ Trigger("value"), sync=Latest())
    return pipe


def _scoped(path: str) -> Pipeline:
    # 3.2's `with pipe:` form, verbatim, plus the sink.
    pipe = Pipeline("demo")
    with pipe:
        src = Source() @ Rate(hz=10)
        add = AddOne() @ Rate(hz=10)
        src >> add
    # Handles are tagged with `handle.pipeline = pipe`, so you can keep wiring later:
    more = AddOne() @ Rate(hz=10)
    add >> more
    more >> (AddOutSink(path) @ Trigger("value"))
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("build", [_connected, _scoped], ids=["connect", "with-rshift"])
def test_3_2_on_every_surface(build: Any, backend: str, tmp_path: Path) -> None:
    seen = run_graph(build, backend, tmp_path, steps=3, duration=1.0)
    want = 2 if build is _connected else 3  # Source 1 -> AddOne 2 (-> AddOne 3)
    assert seen and all(line == {"value": want} for line in seen)


def test_5_5_default_pipeline_on_multiprocessing(tmp_path: Path) -> None:
    import retriever

    # Start a fresh pipeline immediately
    # (For scripts, we recommend 'with Pipeline():' instead of global state)
    retriever.reset_default_pipeline()
    a = Source() @ Rate(hz=10)
    b = AddOne() @ Rate(hz=10)
    retriever.init(default_sync=Latest())
    retriever.connect(a, b)
    retriever.connect(b, AddOutSink(str(tmp_path / "out.jsonl")) @ Trigger("value"))
    # Run the accumulated default pipeline
    retriever.default_pipeline().run(backend="multiprocessing", duration=1.0)
    seen = read_lines(tmp_path / "out.jsonl")
    assert seen and all(line == {"value": 2} for line in seen)
    retriever.clear_default_pipeline()
