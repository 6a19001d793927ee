"""The architecture page's names and pipeline, completed minimally: authoring ->
``validate()`` -> IR -> ``build_execution()`` -> ExecutionGraph -> ``execute_ir()``.

``retriever.rt.step``, ``ScheduleResult.now`` and ``Subscriber.get_all()`` (sections 2.3
and 3) belong to the runtime-core work and are tested there.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from retriever.flow import Flow, Latest, Pipeline, PipelineBuilder, Rate, Trigger, io
from retriever.flow.adapter import Latest as AdapterLatest
from retriever.flow.types import Behavior, EventStream, TimedBuffer
from retriever.ir import IR, ExecutionGraph
from retriever.registry import build_ir, register_pipeline, unregister_pipeline
from retriever.rt import execute_ir

from .spec_support import BACKENDS, JsonSink, dora_env, execute, read_lines


@io
class Tick:
    n: int


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

    class Counter(Flow[None, Tick]):
        """Uses the compatibility aliases: init() for reset(), run() for step()."""

        def init(self) -> None:
            self.n = 0

        def run(self, _: None) -> Tick:
            self.n += 1
            return Tick(n=self.n)


class TickSink(JsonSink, Flow[Tick, None]):
    pass


def build(path: str) -> Pipeline:
    pipe = Pipeline("arch")
    src = (Counter() @ Rate(hz=20)).named("counter")
    pipe.connect(src, (TickSink(path) @ Trigger("n")).named("sink"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_compat_aliases_run_on_every_surface(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "ticks.jsonl"
    execute(build(str(out)), backend, steps=4, duration=0.6)
    ns = [line["n"] for line in read_lines(out)]
    assert ns[:3] == [1, 2, 3]


def test_validate_gives_the_ir_and_build_execution_the_execution_graph() -> None:
    pipe = build("/dev/null")
    ir = pipe.validate()
    assert isinstance(ir, IR)
    node = ir.node("counter")
    assert node.flow.endswith(":Counter") and node.clock.kind == "rate"
    edge = ir.edges[0]
    assert (edge.ports[0].src_port, edge.ports[0].dst_port, edge.ports[0].adapter.name) == (
        "n", "n", "latest")
    assert edge.ports[0].qsize >= 1 and edge.ports[0].on_full
    graph = pipe.build_execution()
    assert isinstance(graph, ExecutionGraph)
    assert {p.id for p in graph.partitions} and graph.cross_edges
    assert graph.partition_of("counter").placement is not None


@pytest.mark.parametrize(("backend", "which"), [
    ("in-process", "ir"), ("in-process", "execution-graph"), ("multiprocessing", "ir"),
    ("multiprocessing", "execution-graph"), ("dora", "execution-graph")])
def test_execute_ir_takes_an_ir_or_an_execution_graph(
        backend: str, which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "dora":
        dora_env(monkeypatch)
    out = tmp_path / "ticks.jsonl"
    pipe = build(str(out))
    graph = pipe.validate() if which == "ir" else pipe.build_execution()
    handle = execute_ir(graph, backend=backend, duration=1.5 if backend == "dora" else 0.6,
                        blocking=False)
    report = handle.wait()
    assert report is not None and report.flows["counter"].steps >= 3
    assert [line["n"] for line in read_lines(out)][:2] == [1, 2]


def test_frp_vocabulary() -> None:
    buffer: TimedBuffer[float] = [(0.0, 1.0), (1.0, 2.0)]
    stream = EventStream(buffer)
    assert stream.events() is buffer
    assert stream.sample(AdapterLatest(), now=0.5) == 1.0
    behavior = Behavior.from_stream(stream, AdapterLatest())
    assert behavior.at(1.5) == 2.0
    for name in ("map", "filter", "merge", "fold", "snapshot", "combine_latest", "flat_map"):
        assert callable(getattr(stream, name)), name
    assert callable(Behavior.select) and callable(behavior.until)
    from retriever import rt
    from retriever.types.data import EventBuffer

    assert rt.Behavior is Behavior and rt.EventStream is EventStream
    assert EventBuffer is not TimedBuffer


def test_registry_factories_return_ir_or_builder(tmp_path: Path) -> None:
    @register_pipeline("spec-arch-builder")
    def as_builder() -> PipelineBuilder:
        builder = PipelineBuilder("arch-builder")
        builder.connect(Counter() @ Rate(hz=20), TickSink("/dev/null") @ Trigger("n"),
                        sync=Latest())
        return builder

    @register_pipeline("spec-arch-ir")
    def as_ir() -> IR:
        ir: IR = build(str(tmp_path / "reg.jsonl")).validate()
        return ir

    try:
        assert build_ir("spec-arch-builder").name == "arch-builder"
        report = execute_ir(build_ir("spec-arch-ir"), backend="multiprocessing", duration=0.5)
        assert report.flows["counter"].steps >= 2
        assert read_lines(tmp_path / "reg.jsonl")
    finally:
        unregister_pipeline("spec-arch-builder")
        unregister_pipeline("spec-arch-ir")


def test_plugin_entry_point_group() -> None:
    from retriever import plugins

    assert plugins.GROUP == "retriever.plugins"
