from __future__ import annotations

import pytest

import retriever
from retriever.contract.errors import FlowError
from retriever.flow import Flow, Hold, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, Window, io
from retriever.ir import IR
from retriever.rt import Stepper, execute_ir

from .core_flows import AddOne, AddOut, Boom, Collect, Pair, Source, SrcOut


def chain() -> tuple[Pipeline, object, object, object]:
    pipe = Pipeline("chain")
    src = Source() @ Rate(hz=10)
    add = AddOne() @ Trigger("value")
    sink = Collect() @ Trigger("value")
    pipe.connect(src, add, sync=Latest())
    pipe.connect(add, sink, sync=Latest())
    return pipe, src, add, sink


def test_step_result_and_same_step_propagation() -> None:
    pipe, src, add, sink = chain()
    r = pipe.step(dt=0.1)
    assert r.now == 0.0
    assert r.executed == ["source", "add_one", "collect"]
    assert r.outputs["source"] == SrcOut(value=1)
    assert r.outputs["add_one"] == AddOut(value=2)
    assert r.inputs["add_one"] == SrcOut(value=1)
    r2 = pipe.step(dt=0.1)
    assert r2.now == pytest.approx(0.1)
    pipe.close_stepper()
    assert sink.flow.seen == [2, 3]  # type: ignore[attr-defined]


def test_trigger_runs_only_on_new_arrival_and_rate_every_step() -> None:
    @io
    class Maybe:
        value: int

    class Sometimes(Flow[None, Maybe]):
        def reset(self) -> None:
            self.k = 0

        def step(self, _: None) -> Maybe | None:
            self.k += 1
            return Maybe(value=self.k) if self.k % 2 == 0 else None

    class Count(Flow[Maybe, None]):
        def __init__(self) -> None:
            self.n = 0

        def step(self, input: Maybe) -> None:
            self.n += 1

    pipe = Pipeline("t")
    s = Sometimes() @ Rate(hz=10)
    trig = Count() @ Trigger("value")
    rate = Count() @ Rate(hz=10)
    eager = Count() @ Rate(hz=10, wait_for_inputs=False)
    pipe.connect(s, trig, sync=Latest())
    pipe.connect(s, rate, sync=Latest())
    pipe.connect(s, eager, sync=Latest())
    runs = [pipe.step(dt=0.1).executed for _ in range(4)]
    pipe.close_stepper()
    # the Rate flow starts once its input has a value, then runs every step;
    # the opted-out one runs from the first step
    assert trig.flow.n == 2 and rate.flow.n == 3 and eager.flow.n == 4  # type: ignore[attr-defined]
    assert runs[0] == ["sometimes", "count_3"]
    assert runs[1] == ["sometimes", "count", "count_2", "count_3"]


def test_tick_samples_nothing_and_trigger_samples_its_fields() -> None:
    class Seen(Flow[Pair, None]):
        def __init__(self) -> None:
            self.got: list[tuple[int | None, int | None]] = []

        def step(self, input: Pair) -> None:
            self.got.append((input.a, input.b))

    class PairSrc(Flow[None, Pair]):
        def step(self, _: None) -> Pair:
            return Pair(a=1, b=2)

    pipe = Pipeline("t")
    src = PairSrc() @ Rate(hz=1)
    tick = Seen() @ Tick(hz=1)
    trig = Seen() @ Trigger("a")
    hyb = Seen() @ Hybrid(hz=1, trigger=["a"])
    for dst in (tick, trig, hyb):
        pipe.connect(src, dst, sync=Latest())
    pipe.step()
    pipe.close_stepper()
    assert tick.flow.got == [(None, None)]  # type: ignore[attr-defined]
    assert trig.flow.got == [(1, None)]  # type: ignore[attr-defined]
    assert hyb.flow.got == [(1, 2)]  # type: ignore[attr-defined]


def test_adapters_shape_what_the_flow_sees() -> None:
    @io
    class Mean:
        value: float

    class Avg(Flow[Mean, None]):  # the mean of int values is a float
        def __init__(self) -> None:
            self.got: list[float] = []

        def step(self, input: Mean) -> None:
            self.got.append(input.value)

    pipe = Pipeline("w")
    src = Source() @ Rate(hz=10)
    avg = Avg() @ Rate(hz=10)
    pipe.connect(src, avg, sync=Window(duration=0.25, agg="mean"))
    for _ in range(5):
        pipe.step(dt=0.1)
    pipe.close_stepper()
    # values 1..5 at t=0,.1,...; window [now-0.25, now] holds three samples once full
    assert avg.flow.got == pytest.approx([1.0, 1.5, 2.0, 3.0, 4.0])  # type: ignore[attr-defined]


def test_hold_debounce_in_stepper() -> None:
    class Sink(Flow[SrcOut, None]):
        def __init__(self) -> None:
            self.got: list[int | None] = []

        def step(self, input: SrcOut) -> None:
            self.got.append(input.value)

    pipe = Pipeline("h")
    src = Source() @ Rate(hz=10)
    sink = Sink() @ Rate(hz=10)
    pipe.connect(src, sink, sync=Hold(debounce=0.25))
    for _ in range(6):
        pipe.step(dt=0.1)
    pipe.close_stepper()
    assert sink.flow.got == [1, 1, 1, 4, 4, 4]  # type: ignore[attr-defined]


def test_flow_exception_names_the_flow_with_original_traceback() -> None:
    pipe = Pipeline("err")
    src = Source() @ Rate(hz=1)
    boom = Boom() @ Trigger("value")
    pipe.connect(src, boom, sync=Latest())
    pipe.step()
    with pytest.raises(FlowError) as err:
        pipe.step()
    assert err.value.flow == "boom"
    assert "boom at two" in str(err.value)
    assert isinstance(err.value.__cause__, ValueError)
    assert "core_flows.py" in err.value.traceback_text
    pipe.close_stepper()


def test_lifecycle_order_and_finalize_on_close() -> None:
    pipe = Pipeline("life")
    src = pipe.add(Source() @ Rate(hz=1))
    pipe.step()
    pipe.close_stepper()
    assert src.flow.events == ["lazy_init", "reset", "finalize"]  # type: ignore[attr-defined]


def test_wrong_step_return_type_is_reported() -> None:
    class Liar(Flow[None, SrcOut]):
        def step(self, _: None):  # type: ignore[no-untyped-def]
            return AddOut(value=1)

    pipe = Pipeline("liar")
    pipe.add(Liar() @ Rate(hz=1))
    with pytest.raises(FlowError, match="returned AddOut, expected SrcOut"):
        pipe.step()


def test_execute_ir_in_process_rebuilds_flows_from_init_config() -> None:
    pipe, *_ = chain()
    ir = IR.from_json(pipe.validate().to_json())
    st = Stepper(ir)
    out = [st.step(dt=0.1).outputs["add_one"].value for _ in range(3)]
    st.close()
    assert out == [2, 3, 4]
    report = execute_ir(ir, backend="in-process", duration=0.3)
    assert report.flows["source"].steps >= 3  # type: ignore[union-attr]


def test_run_in_process_honours_rates() -> None:
    pipe = Pipeline("rates")
    fast = Source() @ Rate(hz=50)
    slow = Collect() @ Rate(hz=10)
    pipe.connect(fast, (AddOne() @ Trigger("value")), sync=Latest())
    pipe.connect(pipe.node("add_one"), slow, sync=Latest())
    report = pipe.run(backend="in-process", duration=0.5, realtime=False)
    assert 24 <= report.flows["source"].steps <= 27
    assert 5 <= report.flows["collect"].steps <= 7


def test_nonblocking_run_handle() -> None:
    pipe, *_ = chain()
    handle = pipe.run(backend="in-process", blocking=False)
    assert handle.running
    report = handle.stop()
    assert not handle.running and report.flows["source"].steps >= 1


def test_step_honours_explicit_now_and_replay_hook() -> None:
    pipe, src, add, sink = chain()
    st: Stepper = retriever.rt.facade.stepper_for(pipe)  # type: ignore[attr-defined]
    st.replay["source"] = lambda now, i: {"value": 100 + i}
    r = pipe.step(now=5.0)
    assert r.now == 5.0 and r.outputs["add_one"] == AddOut(value=101)
    pipe.close_stepper()
