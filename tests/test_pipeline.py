from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

import retriever
from retriever.contract.errors import ConfigError, ContractError, ValidationError
from retriever.flow import (
    EdgeConfig,
    Events,
    Flow,
    Hold,
    Latest,
    Pipeline,
    Rate,
    Trigger,
    Window,
    io,
)
from retriever.flow.adapter import Adapter, Chunking, Exact, Linear, register_adapter
from retriever.flow.context import collecting

from .core_flows import AddOne, AddOut, Collect, Pair, Source, SrcOut


@pytest.fixture(autouse=True)
def _clean_defaults() -> Iterator[None]:
    retriever.init(default_sync=None, default_on_lag=None)
    retriever.clear_default_pipeline()
    yield
    retriever.init(default_sync=None, default_on_lag=None)
    retriever.clear_default_pipeline()


@io
class Num:
    x: float
    y: float


@io
class Str:
    x: str


class NumSrc(Flow[None, Num]):
    def step(self, _: None) -> Num:
        return Num(x=1.0, y=2.0)


class StrSink(Flow[Str, None]):
    def step(self, input: Str) -> None:
        return None


class NumSink(Flow[Num, None]):
    def step(self, input: Num) -> None:
        return None


class PairSrc(Flow[None, Pair]):
    def step(self, _: None) -> Pair:
        return Pair(a=1, b=2)


def test_sync_is_required_without_a_default() -> None:
    pipe = Pipeline("p")
    with pytest.raises(ContractError) as err:
        pipe.connect(Source() @ Rate(hz=10), AddOne() @ Rate(hz=10))
    assert err.value.codes == ["RET108"]
    assert "default_sync" in str(err.value)


def test_init_default_sync_is_used_and_nothing_injected_silently() -> None:
    retriever.init(default_sync=Latest())
    pipe = Pipeline("p")
    pipe.connect(Source() @ Rate(hz=10), AddOne() @ Rate(hz=10))
    ir = pipe.validate()
    assert ir.edges[0].ports[0].adapter.name == "latest"


def test_map_that_matches_no_port_is_an_error_with_hint() -> None:
    pipe = Pipeline("p")
    with pytest.raises(ContractError) as err:
        pipe.connect(NumSrc() @ Rate(hz=1), AddOne() @ Rate(hz=1), sync=Latest())
    assert err.value.codes == ["RET101"]
    assert "map=" in str(err.value)


def test_map_naming_unknown_ports() -> None:
    pipe = Pipeline("p")
    with pytest.raises(ContractError) as err:
        pipe.connect(Source() @ Rate(hz=1), AddOne() @ Rate(hz=1), sync=Latest(),
                     map={"nope": "value"})
    assert err.value.codes == ["RET102"]
    with pytest.raises(ContractError) as err:
        pipe.connect(Source() @ Rate(hz=1), AddOne() @ Rate(hz=1), sync=Latest(),
                     map={"value": "nope"})
    assert err.value.codes == ["RET103"]


def test_sync_key_naming_a_port_the_source_lacks() -> None:
    pipe = Pipeline("p")
    with pytest.raises(ContractError) as err:
        pipe.connect(Source() @ Rate(hz=1), AddOne() @ Rate(hz=1), sync={"nope": Latest()})
    assert "RET102" in err.value.codes


def test_incompatible_port_types() -> None:
    pipe = Pipeline("p")
    with pytest.raises(ContractError) as err:
        pipe.connect(NumSrc() @ Rate(hz=1), StrSink() @ Rate(hz=1), sync=Latest())
    assert err.value.codes == ["RET104"]
    assert "float" in str(err.value) and "str" in str(err.value)


def test_events_output_type_is_checked_against_the_port() -> None:
    # Events hands list[tuple[float, T]] to step: a str port cannot hold it.
    pipe = Pipeline("p")
    with collecting() as found:
        pipe.connect(NumSrc() @ Rate(hz=1), StrSink() @ Rate(hz=1), sync=Events(duration=1.0))
    assert {d.code for d in found} == {"RET104"}
    assert "sampled by Events as list[tuple[float, float]]" in found[0].message


def test_undeclared_type_changing_adapter_skips_type_check() -> None:
    @register_adapter("test-undeclared-change")
    @dataclass(eq=False)
    class Anything(Adapter):
        transforms_type: ClassVar[bool] = True

        def __call__(self, buffer: Any, now: float | None = None, **kw: Any) -> Any:
            return len(buffer)

    pipe = Pipeline("p")
    pipe.connect(NumSrc() @ Rate(hz=1), StrSink() @ Rate(hz=1), sync=Anything())
    assert pipe.diagnostics() == []


@pytest.mark.parametrize("wire", ["connect", "module_connect", "then"])
def test_sync_and_edge_config_adapter_conflict_on_every_path(wire: str) -> None:
    pipe = Pipeline("p")
    a, b = Source() @ Rate(hz=1), AddOne() @ Rate(hz=1)
    ec = {"value": EdgeConfig(adapter=Hold(0.1))}
    with pytest.raises(ContractError) as err:
        if wire == "connect":
            pipe.connect(a, b, sync={"value": Latest()}, edge_config=ec)
        elif wire == "then":
            with pipe:
                pipe.add(a)
                a.then(b, sync=Latest(), edge_config=ec)
        else:
            with pipe:
                retriever.connect(a, b, sync=Latest(), edge_config=ec)
    assert "RET105" in err.value.codes


def test_edge_config_alone_can_provide_every_adapter() -> None:
    pipe = Pipeline("p")
    pipe.connect(Source() @ Rate(hz=1), AddOne() @ Rate(hz=1),
                 edge_config={"*": EdgeConfig(qsize=4, adapter=Hold(0.5))})
    port = pipe.validate().edges[0].ports[0]
    assert (port.adapter.name, port.qsize) == ("hold", 4)


def test_edge_config_wildcard_and_per_port_override() -> None:
    pipe = Pipeline("p")
    pipe.connect(PairSrc() @ Rate(hz=1), (Flow_pair_sink()) @ Rate(hz=1),
                 sync={"a": Hold(debounce=0.1)},
                 edge_config={"*": EdgeConfig(qsize=32, on_full="drop"),
                              "b": EdgeConfig(qsize=4, adapter=Latest())})
    ports = {p.src_port: p for p in pipe.validate().edges[0].ports}
    assert (ports["a"].qsize, ports["a"].adapter.name, ports["a"].on_full) == (32, "hold", "drop")
    assert (ports["b"].qsize, ports["b"].adapter.name) == (4, "latest")


class _PairSink(Flow[Pair, None]):
    def step(self, input: Pair) -> None:
        return None


def Flow_pair_sink() -> _PairSink:
    return _PairSink()


def test_fan_in_conflict() -> None:
    pipe = Pipeline("p")
    sink = AddOne() @ Rate(hz=1)
    pipe.connect(Source() @ Rate(hz=1), sink, sync=Latest())
    pipe.connect(Source(5) @ Rate(hz=1), sink, sync=Latest())
    with pytest.raises(ValidationError) as err:
        pipe.validate()
    assert err.value.codes == ["RET107"]


def test_validate_reports_every_problem_in_one_error() -> None:
    pipe = Pipeline("p")
    sink = AddOne() @ Rate(hz=1)
    with collecting():
        pipe.connect(Source() @ Rate(hz=1), sink, sync=Latest())
        pipe.connect(Source(1) @ Rate(hz=1), sink, sync=Latest())
        pipe.connect(NumSrc() @ Rate(hz=1), StrSink() @ Rate(hz=1), sync=Latest())
    with pytest.raises(ValidationError) as err:
        pipe.validate()
    assert sorted(err.value.codes) == ["RET104", "RET107"]
    assert "2 problems" in str(err.value)


def test_with_pipe_and_rshift_tags_handles() -> None:
    pipe = Pipeline("demo", default_sync=Latest())
    with pipe:
        src = Source() @ Rate(hz=10)
        add = AddOne() @ Rate(hz=10)
        src >> add
    assert src.pipeline is pipe and add.pipeline is pipe
    more = Collect() @ Rate(hz=10)
    add >> more  # the handle remembers its pipeline outside the block
    assert [c.label for c in pipe.connections] == ["source -> add_one", "add_one -> collect"]


def _adapters(pipe: Pipeline) -> list[str]:
    return [p.adapter.name for e in pipe.validate().edges for p in e.ports]


def test_rshift_without_any_sync_samples_latest() -> None:
    pipe = Pipeline("demo")
    with pipe:
        src = Source() @ Rate(hz=10)
        add = AddOne() @ Rate(hz=10)
        src >> add
    add.then(Collect() @ Rate(hz=10))
    assert pipe.diagnostics() == []
    assert _adapters(pipe) == ["latest", "latest"]
    assert pipe.step(dt=0.1).outputs["add_one"] == AddOut(value=2)
    pipe.close_stepper()


def test_rshift_uses_the_default_sync_when_one_is_set() -> None:
    pipe = Pipeline("demo", default_sync=Hold(debounce=0.5))
    with pipe:
        (Source() @ Rate(hz=10)) >> (AddOne() @ Rate(hz=10))
    assert _adapters(pipe) == ["hold"]
    plain = Pipeline("plain")
    with plain:
        (Source() @ Rate(hz=10)) >> (AddOne() @ Rate(hz=10))
    retriever.init(default_sync=Window(duration=1.0, agg="last"))
    try:
        assert _adapters(plain) == ["window"]
    finally:
        retriever.init(default_sync=None)


def test_connect_without_sync_is_still_an_error() -> None:
    pipe = Pipeline("demo")
    with pipe, pytest.raises(ContractError, match="RET108"):
        pipe.connect(Source() @ Rate(hz=10), AddOne() @ Rate(hz=10))


def test_then_outside_a_pipeline_needs_one() -> None:
    with pytest.raises(ConfigError, match="needs a pipeline"):
        (Source() @ Rate(hz=1)).then(AddOne() @ Rate(hz=1), sync=Latest())


def test_flow_without_clock_cannot_be_connected() -> None:
    with pytest.raises(ContractError, match="RET110"):
        Pipeline("p").connect(Source(), AddOne() @ Rate(hz=1), sync=Latest())  # type: ignore[arg-type]


def test_default_pipeline_helpers() -> None:
    retriever.reset_default_pipeline()
    first = retriever.default_pipeline()
    a, b = Source() @ Rate(hz=10), AddOne() @ Rate(hz=10)
    retriever.init(default_sync=Latest())
    retriever.connect(a, b)
    assert retriever.default_pipeline() is first and len(first.connections) == 1
    fresh = retriever.reset_default_pipeline()  # eager
    assert fresh is not first and retriever.default_pipeline() is fresh
    retriever.clear_default_pipeline()  # lazy
    assert retriever.default_pipeline() is not fresh


def test_connect_respects_active_with_pipeline() -> None:
    pipe = Pipeline("ctx")
    with pipe:
        retriever.connect(Source() @ Rate(hz=1), AddOne() @ Rate(hz=1), sync=Latest())
    assert len(pipe.connections) == 1
    assert retriever.default_pipeline().connections == []


def test_on_lag_pipeline_default_does_not_override_explicit() -> None:
    pipe = Pipeline("lag", default_on_lag="drop")
    pipe.connect(Source() @ Rate(hz=1, on_lag="panic"), AddOne() @ Rate(hz=1), sync=Latest())
    clocks = {n.id: n.clock.on_lag for n in pipe.validate().nodes}
    assert clocks == {"source": "error", "add_one": "drop"}
    retriever.init(default_on_lag="catch_up")
    p2 = Pipeline("lag2")
    p2.add(Source() @ Rate(hz=1))
    assert p2.validate().nodes[0].clock.on_lag == "catch_up"


def test_unencodable_init_argument_is_rejected_at_validate() -> None:
    pipe = Pipeline("p")
    pipe.add(Source(object()) @ Rate(hz=1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as err:
        pipe.validate()
    assert err.value.codes == ["RET109"]
    assert "source" in str(err.value) and "argument 0" in str(err.value)


def test_numpy_init_argument_round_trips_through_ir() -> None:
    from retriever.contract.wire import from_json_value

    pipe = Pipeline("p")
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    pipe.add(Source(start=arr) @ Rate(hz=1))  # type: ignore[arg-type]
    ir = type(pipe.validate()).from_json(pipe.validate().to_json())
    back = from_json_value(ir.nodes[0].init["kwargs"]["start"])
    assert back.dtype == np.int16 and np.array_equal(back, arr)


def test_non_reexported_adapters_live_in_their_module() -> None:
    import retriever.flow as rf

    for name in ("Exact", "Linear", "Chunking"):
        assert not hasattr(rf, name)
    assert Exact and Linear and Chunking


def test_unique_node_names() -> None:
    pipe = Pipeline("p")
    a = pipe.add(Source() @ Rate(hz=1))
    b = pipe.add(Source() @ Rate(hz=1))
    c = pipe.add((Source() @ Rate(hz=1)).named("cam"))
    assert (a.name, b.name, c.name) == ("source", "source_2", "cam")
    with pytest.raises(ConfigError, match="already has a flow 'cam'"):
        pipe.add((Source() @ Rate(hz=1)).named("cam"))


def test_a_flow_belongs_to_one_pipeline() -> None:
    a = Source() @ Rate(hz=1)
    Pipeline("one").add(a)
    with pytest.raises(ConfigError, match="already belongs"):
        Pipeline("two").add(a)


def test_trigger_field_checked_by_validate_too() -> None:
    with collecting() as found:
        pipe = Pipeline("p")
        pipe.add(AddOne() @ Trigger("missing"))
    assert [d.code for d in found] == ["RET106"]
    with pytest.raises(ValidationError, match="RET106"):
        pipe.validate()


def test_srcout_addout_are_compatible() -> None:
    assert SrcOut and AddOut


def test_default_history_depends_on_the_adapter() -> None:
    pipe = Pipeline("hist")
    src = Source() @ Rate(hz=1)
    pipe.connect(src, AddOne() @ Rate(hz=1), sync=Latest())
    pipe.connect(src, Collect_like() @ Rate(hz=1), sync=Window(duration=1.0))
    qs = [e.ports[0].qsize for e in pipe.validate().edges]
    assert qs == [2, 64]


class _AddSink(Flow[SrcOut, None]):
    def step(self, input: SrcOut) -> None:
        return None


def Collect_like() -> _AddSink:
    return _AddSink()


class Gain(Flow[None, SrcOut]):
    def __init__(self, gain: int = 1) -> None:
        self.gain = gain

    def step(self, _: None) -> SrcOut:
        return SrcOut(value=self.gain)


class GainFromDict(Gain):
    def init_config(self):  # type: ignore[no-untyped-def, override]
        return {"gain": 3}


class GainFromList(Gain):
    def init_config(self):  # type: ignore[no-untyped-def, override]
        return [3]


class GainFromTriple(Gain):
    def init_config(self):  # type: ignore[no-untyped-def, override]
        return (3,), {}, None


def test_init_config_may_return_a_mapping_of_keyword_arguments() -> None:
    pipe = Pipeline("kwargs")
    pipe.add(GainFromDict() @ Rate(hz=1))
    node = pipe.validate().nodes[0]
    assert (node.init["args"], node.init["kwargs"]) == ([], {"gain": 3})


@pytest.mark.parametrize(("cls", "shown"), [(GainFromList, "list [3]"),
                                            (GainFromTriple, "tuple ((3,), {}, None)")])
def test_init_config_returning_something_else_is_a_typed_error(cls: type, shown: str) -> None:
    pipe = Pipeline("bad-init")
    pipe.add((cls() @ Rate(hz=1)).named("amp"))
    with pytest.raises(ValidationError) as err:
        pipe.validate()
    assert err.value.codes == ["RET109"]
    text = str(err.value)
    assert f"amp: {cls.__name__}.init_config() returned {shown}" in text
    assert "expected (args, kwargs) or a dict of keyword arguments" in text


def test_signature_problems_point_at_the_class_line() -> None:
    # The same line mypy and `retriever check` report: the `class` statement.
    import inspect

    class Fused(Flow[tuple[Num, Str], None]):
        def step(self, input: tuple[Num, Str]) -> None:
            return None

    pipe = Pipeline("p")
    pipe.add(Fused() @ Rate(hz=1))
    (diag,) = pipe.diagnostics(strict_single_io=True)
    assert diag.code == "RET004"
    lines, first = inspect.getsourcelines(Fused)
    assert lines[0].lstrip().startswith("class Fused")
    assert (diag.location.file, diag.location.line) == (__file__, first)


def test_numpy_init_arguments_use_the_one_array_codec() -> None:
    from retriever.contract.errors import ConfigError
    from retriever.contract.wire import from_json_value, to_json_value

    # a strided (Fortran-order) array and a big-endian one keep values, dtype and shape
    for arr in (np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
                np.arange(4, dtype=">i4")):
        back = from_json_value(to_json_value(arr, "arg"))
        assert back.dtype == arr.dtype and back.shape == arr.shape
        assert np.array_equal(back, arr) and back.flags.writeable
    good = to_json_value(np.arange(3, dtype=np.int16), "arg")["$ndarray"]
    for bad in ({**good, "data": good["data"][:-2]},  # one element short
                {**good, "dtype": "|O"},  # Python objects never travel
                {**good, "shape": [-3]},
                {"dtype": "<i2", "shape": [3]}):
        with pytest.raises(ConfigError, match=r"\$ndarray value is malformed"):
            from_json_value({"$ndarray": bad})
