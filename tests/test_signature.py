from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retriever.contract import CompositeView, ContractError, RuleOptions, check_flow
from retriever.contract.errors import AmbiguousFieldError
from retriever.contract.signature import normalize_side
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.flow.describe import describe_flow


@io
class A:
    value: int
    a_only: int


@io
class B:
    value: int
    b_only: int


@io
class C:
    out: int


@io
class D:
    other: int


def test_tuple_literal_and_tuple_generic_are_the_same_contract() -> None:
    class F1(Flow[(A, B), C]):  # type: ignore[misc]
        pass

    class F2(Flow[tuple[A, B], C]):
        pass

    s1, s2 = F1.signature(), F2.signature()
    assert s1.inputs == s2.inputs and s1.inputs.composite
    assert s1.inputs.elements == (A, B)


def test_all_forms_normalise() -> None:
    class Fa(Flow[A, (C, D)]):  # type: ignore[misc]
        pass

    class Fb(Flow[(A, B), (C, D)]):  # type: ignore[misc]
        pass

    class Src(Flow[None, C]):
        pass

    assert Fa.signature().outputs.elements == (C, D)
    assert Fb.signature().inputs.composite and Fb.signature().outputs.composite
    assert Src.signature().inputs.is_none
    assert normalize_side(None).is_none


def test_subclass_of_subclass_inherits_signature() -> None:
    class Base(Flow[A, C]):
        pass

    class Sub(Base):
        pass

    assert Sub.signature().inputs.elements == (A,)


def codes(cls: type, strict: bool = False) -> list[str]:
    return [d.code for d in check_flow(describe_flow(cls), RuleOptions(strict_single_io=strict))]


def test_rule_io_compatible_elements() -> None:
    class Bad(Flow[int, C]):
        pass

    assert codes(Bad) == ["RET001"]


def test_rule_no_none_mixed_in_tuples() -> None:
    class Bad(Flow[tuple[A, None], C]):
        pass

    assert "RET002" in codes(Bad)


def test_strict_single_io_rejects_composites() -> None:
    class Comp(Flow[tuple[A, B], C]):
        pass

    assert codes(Comp) == []
    assert codes(Comp, strict=True) == ["RET004"]


def test_step_return_annotation_must_be_output_type() -> None:
    class Wrong(Flow[A, C]):
        def step(self, input: A) -> D:  # type: ignore[override]
            return D()

    class Right(Flow[A, C]):
        def step(self, input: A) -> C:
            return C()

    class RightTuple(Flow[A, tuple[C, D]]):
        def step(self, input: A) -> tuple[C, D]:
            return C(), D()

    assert codes(Wrong) == ["RET005"]
    assert codes(Right) == [] and codes(RightTuple) == []


def test_composite_unqualified_access_only_when_unique() -> None:
    view = CompositeView(["A", "B"], [A(value=1, a_only=2), B(value=3, b_only=4)])
    assert view.a_only == 2 and view.b_only == 4
    assert view.A.value == 1 and view.B.value == 3
    assert view._get_signal("B.value") == 3
    view._set_signal("A.value", 9)
    assert view.A.value == 9
    with pytest.raises(AmbiguousFieldError) as err:
        _ = view.value
    assert "A.value" in str(err.value) and "B.value" in str(err.value)
    with pytest.raises(AmbiguousFieldError):
        view.value = 3
    with pytest.raises(AmbiguousFieldError):
        view._has_signal("value")
    assert view._has_signal("a_only")


def test_colliding_class_names_alias_in_declaration_order() -> None:
    def make() -> type:
        @io
        class Same:
            x: int

        return Same

    S1, S2 = make(), make()

    class F(Flow[tuple[S1, S2], C]):  # type: ignore[valid-type]
        def step(self, inp: object) -> C:
            assert isinstance(inp, CompositeView)
            return C(out=inp.Same__1.x * 10 + inp.Same__2.x)

    class Src1(Flow[None, S1]):  # type: ignore[valid-type]
        def step(self, _: None):  # type: ignore[no-untyped-def]
            return S1(x=1)

    assert F.signature().inputs.aliases() == ["Same__1", "Same__2"]
    pipe = Pipeline("alias")
    src = Src1() @ Rate(hz=1)
    f = F() @ Rate(hz=1)
    pipe.connect(src, f, sync=Latest(), map={"x": "Same__2.x"})
    ir = pipe.validate()
    assert [p.name for p in ir.node(f.name).input_ports] == ["Same__1.x", "Same__2.x"]


@io
class Pose2:
    x: float
    y: float


class TwoPoses(Flow[None, tuple[Pose2, Pose2]]):
    def step(self, _: None) -> tuple[Pose2, Pose2]:
        return Pose2(x=1.0, y=2.0), Pose2(x=3.0, y=4.0)


class PosePair(Flow[tuple[Pose2, Pose2], C]):
    def step(self, inp: tuple[Pose2, Pose2]) -> C:
        first, second = inp
        return C(out=int(first.x * 10 + second.x))


class OnePose(Flow[None, Pose2]):
    def step(self, _: None) -> Pose2:
        return Pose2(x=1.0, y=2.0)


def test_default_map_pairs_equal_qualified_aliases() -> None:
    pipe = Pipeline("pairs")
    src, dst = TwoPoses() @ Rate(hz=1), PosePair() @ Rate(hz=1)
    conn = pipe.connect(src, dst, sync=Latest())
    assert conn.pairs == [("Pose2__1.x", "Pose2__1.x"), ("Pose2__1.y", "Pose2__1.y"),
                          ("Pose2__2.x", "Pose2__2.x"), ("Pose2__2.y", "Pose2__2.y")]
    assert pipe.step(dt=0.1).outputs[dst.name] == C(out=13)
    pipe.close_stepper()


def test_default_map_into_a_composite_without_exact_alias_is_ambiguous() -> None:
    pipe = Pipeline("ambiguous")
    with pytest.raises(ContractError, match="RET003") as err:
        pipe.connect(OnePose() @ Rate(hz=1), PosePair() @ Rate(hz=1), sync=Latest())
    assert "Pose2__1.x, Pose2__2.x" in str(err.value)


def test_composite_output_published_with_qualified_ports() -> None:
    class Split(Flow[None, tuple[C, D]]):
        def step(self, _: None) -> tuple[C, D]:
            return C(out=1), D(other=2)

    class Sink(Flow[tuple[C, D], None]):
        def __init__(self) -> None:
            self.got: list[tuple[int, int]] = []

        def step(self, inp: object) -> None:
            assert isinstance(inp, CompositeView)
            self.got.append((inp.out, inp.D.other))

    pipe = Pipeline("comp")
    s = Split() @ Rate(hz=10)
    k = Sink() @ Trigger("out")
    pipe.connect(s, k, sync=Latest())
    r = pipe.step(dt=0.1)
    assert r.messages["split"] == {"C.out": 1, "D.other": 2}
    pipe.close_stepper()
    # Trigger samples only its triggering field: D.other was not sampled.
    assert k.flow.got == [(1, None)]


def test_composite_output_arity_and_types_are_checked() -> None:
    class Short(Flow[None, tuple[C, D]]):
        def step(self, _: None) -> tuple[C, D]:
            return (C(out=1),)  # type: ignore[return-value]

    pipe = Pipeline("arity")
    pipe.add(Short() @ Rate(hz=1))
    with pytest.raises(Exception, match="expected a tuple"):
        pipe.step()


@given(st.lists(st.sampled_from(["P", "Q", "R"]), min_size=1, max_size=6))
def test_aliasing_is_deterministic_and_unique(names: list[str]) -> None:
    from retriever.contract.ports import aliases

    out = aliases(names)
    assert len(set(out)) == len(out)
    assert out == aliases(names)
    for name, alias in zip(names, out, strict=True):
        assert alias == name or alias.startswith(name + "__")
    for n in set(names):
        group = [a for nm, a in zip(names, out, strict=True) if nm == n]
        if len(group) > 1:
            assert group == [f"{n}__{i}" for i in range(1, len(group) + 1)]


@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.integers()), min_size=1,
                max_size=4))
def test_composite_routing_unique_fields_resolve(parts: list[tuple[str, int]]) -> None:
    classes = []
    for i, (field, _) in enumerate(parts):
        cls = io(type(f"E{i}", (), {"__annotations__": {field: int}}))
        classes.append(cls)
    instances = [c(**{f: v}) for c, (f, v) in zip(classes, parts, strict=True)]
    view = CompositeView([c.__name__ for c in classes], instances)
    fields_count: dict[str, int] = {}
    for f, _ in parts:
        fields_count[f] = fields_count.get(f, 0) + 1
    for i, (f, v) in enumerate(parts):
        assert view._get_signal(f"E{i}.{f}") == v
        if fields_count[f] == 1:
            assert getattr(view, f) == v
        else:
            with pytest.raises(AmbiguousFieldError):
                getattr(view, f)


def test_trigger_on_unknown_field_raises_at_attach() -> None:
    class F(Flow[A, C]):
        pass

    with pytest.raises(ContractError) as err:
        F() @ Trigger("nope")
    assert err.value.codes == ["RET106"]
    assert "value" in str(err.value)
