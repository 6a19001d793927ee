"""The pipeline registry and entry-point plugins (entry points faked by monkeypatching)."""

from __future__ import annotations

import importlib.metadata
import sys
import threading
import types
from collections.abc import Iterator

import pytest

from retriever import plugins
from retriever.contract.errors import ContractError, ValidationError
from retriever.flow import Flow, Latest, Pipeline, PipelineBuilder, Rate, io
from retriever.ir import IR
from retriever.registry import (
    RegistryError,
    build_ir,
    get_pipeline,
    list_pipelines,
    register_pipeline,
    unregister_pipeline,
)


@io
class Reading:
    value: float


@io
class Count:
    value: int


class Source(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0)


class Sink(Flow[Reading, None]):
    def step(self, input: Reading) -> None:
        return None


class IntSink(Flow[Count, None]):
    def step(self, input: Count) -> None:
        return None


class Locked(Flow[None, Reading]):
    def __init__(self, lock: object) -> None:
        self.lock = lock

    def step(self, input: None) -> Reading:
        return Reading(value=1.0)


NAMES = ("reg-ir", "reg-pipe", "reg-builder", "reg-bad", "reg-wrong", "reg-dup", "plugin-pipe")


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_kw: [])
    plugins.reset_plugins()
    yield
    for name in NAMES:
        unregister_pipeline(name)
    plugins.reset_plugins()


def _graph(sink: type = Sink) -> Pipeline:
    pipe = Pipeline("g")
    pipe.connect(Source() @ Rate(hz=10), sink() @ Rate(hz=10), sync=Latest())
    return pipe


def test_factory_returning_ir_or_pipeline() -> None:
    calls: list[str] = []

    @register_pipeline("reg-ir")
    def as_ir() -> IR:
        """Returns the validated IR."""
        calls.append("ir")
        return _graph().validate()  # type: ignore[no-any-return]

    @register_pipeline("reg-pipe", description="returns the pipeline")
    def as_pipe() -> Pipeline:
        calls.append("pipe")
        return _graph()

    assert calls == []  # nothing is built at registration
    assert [n.id for n in build_ir("reg-ir").nodes] == ["source", "sink"]
    ir = build_ir("reg-pipe")
    assert isinstance(ir, IR) and len(ir.edges) == 1
    assert calls == ["ir", "pipe"]
    names = [e.name for e in list_pipelines()]
    assert names == sorted(names) and {"reg-ir", "reg-pipe"} <= set(names)
    entry = get_pipeline("reg-ir")
    assert entry.description == "Returns the validated IR."
    assert entry.origin.endswith(":test_factory_returning_ir_or_pipeline.<locals>.as_ir")
    assert get_pipeline("reg-pipe").description == "returns the pipeline"


def test_factory_may_return_a_pipeline_builder() -> None:
    @register_pipeline("reg-builder")
    def as_builder() -> PipelineBuilder:
        builder = PipelineBuilder("built", default_sync=Latest())
        builder.connect(Source() @ Rate(hz=10), Sink() @ Rate(hz=10))
        return builder

    ir = build_ir("reg-builder")
    assert ir.name == "built" and [e.id for e in ir.edges] == ["e0:source->sink"]
    assert ir.edges[0].ports[0].adapter.name == "latest"


def test_pipeline_builds_on_the_builder_layer() -> None:
    # The builder is the graph store and validator; Pipeline adds scope and runtime.
    assert issubclass(Pipeline, PipelineBuilder) and Pipeline is not PipelineBuilder
    builder = PipelineBuilder("bare")
    assert not hasattr(builder, "run") and not hasattr(builder, "__enter__")
    src, sink = Source() @ Rate(hz=10), IntSink() @ Rate(hz=10)
    with pytest.raises(ContractError, match="RET104"):
        builder.connect(src, sink, sync=Latest())
    assert src.pipeline is builder
    other = PipelineBuilder("other")
    other.add((Source() @ Rate(hz=1)).named("a"))
    other.add(Locked(threading.Lock()) @ Rate(hz=1))
    assert [d.code for d in other.diagnostics()] == ["RET109"]
    with pytest.raises(ValidationError):
        other.validate()


def test_invalid_pipeline_is_rejected() -> None:
    register_pipeline("reg-bad")(lambda: _graph(IntSink))
    with pytest.raises(ContractError) as exc:  # raised by connect, at the mistake
        build_ir("reg-bad")
    assert exc.value.codes == ["RET104"]


def test_pipeline_factory_is_validated_before_lowering() -> None:
    def unencodable() -> Pipeline:
        pipe = Pipeline("unencodable")
        pipe.add(Locked(threading.Lock()) @ Rate(hz=10))
        return pipe

    register_pipeline("reg-bad")(unencodable)
    with pytest.raises(ValidationError) as exc:
        build_ir("reg-bad")
    assert exc.value.codes == ["RET109"]


def test_wrong_return_unknown_and_duplicate_names() -> None:
    register_pipeline("reg-wrong")(lambda: 42)
    with pytest.raises(RegistryError, match="returned int"):
        build_ir("reg-wrong")
    with pytest.raises(RegistryError, match="no pipeline is registered") as exc:
        get_pipeline("reg-missing")
    assert "reg-wrong" in exc.value.hint

    def first() -> Pipeline:
        return _graph()

    def second() -> Pipeline:
        return _graph()

    register_pipeline("reg-dup")(first)
    register_pipeline("reg-dup")(first)  # the same factory again: fine
    with pytest.raises(RegistryError, match="already registered"):
        register_pipeline("reg-dup")(second)
    with pytest.raises(RegistryError):
        register_pipeline("")


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: object) -> None:
    module = types.ModuleType("fake_retriever_plugins")
    points = []
    for name, target in targets.items():
        setattr(module, name, target)
        points.append(importlib.metadata.EntryPoint(
            name, f"fake_retriever_plugins:{name}", plugins.GROUP))
    monkeypatch.setitem(sys.modules, "fake_retriever_plugins", module)

    def entry_points(**kwargs: object) -> list[importlib.metadata.EntryPoint]:
        assert kwargs == {"group": plugins.GROUP}
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_plugins_load_once_and_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def register() -> None:
        calls.append("called")
        register_pipeline("plugin-pipe")(_graph)

    _fake_entry_points(monkeypatch, robot=register)
    assert calls == []
    assert "plugin-pipe" in [e.name for e in list_pipelines()]  # first lookup loads
    build_ir("plugin-pipe")
    assert plugins.load_plugins() == ["robot"]
    assert calls == ["called"]
    assert plugins.loaded_plugins() == ["robot"]


def test_failing_plugin_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("no robot here")

    _fake_entry_points(monkeypatch, good=lambda: None, broken=broken, notcallable=3)
    with pytest.raises(plugins.PluginError) as exc:
        list_pipelines()
    assert sorted(exc.value.names) == ["broken", "notcallable"]
    assert "no robot here" in str(exc.value) and exc.value.code == "RET730"
    with pytest.raises(plugins.PluginError):  # never swallowed on later lookups
        get_pipeline("anything")
    assert plugins.loaded_plugins() == ["good"]


def test_plugin_import_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    point = importlib.metadata.EntryPoint("missing", "no_such_module_xyz:go", plugins.GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_kw: [point])
    with pytest.raises(plugins.PluginError, match=r"'missing'.*import failed"):
        plugins.load_plugins()
