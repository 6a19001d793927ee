"""The flow typing contract's code blocks and rules, completed minimally, on the stepper
and the multiprocessing backend (and dora for the lifecycle, which the contract states
for all three).

Completions: sources feeding the flows, sinks writing what they received to a file, and
envelopes ``A``/``B``/``C``/``D`` for the signature forms (the page names them only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from retriever.contract.errors import ValidationError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io

from . import spec_support
from .spec_support import BACKENDS, JsonSink, dora_env, execute, run_graph


@io
class A:
    value: float
    a_only: float


@io
class B:
    value: float


@io
class C:
    out: float


@io
class D:
    other: float


# --- supported signature forms
class TupleLiteral(Flow[(A, B), C]):  # type: ignore[misc]
    pass


class TupleGeneric(Flow[tuple[A, B], C]):
    pass


class TupleOut(Flow[A, (C, D)]):  # type: ignore[misc]
    pass


class TupleBoth(Flow[(A, B), (C, D)]):  # type: ignore[misc]
    pass


def test_signature_forms_and_normalisation() -> None:
    assert TupleLiteral.signature().inputs.aliases() == TupleGeneric.signature().inputs.aliases()
    assert TupleLiteral.signature().inputs == TupleGeneric.signature().inputs
    assert TupleOut.signature().outputs.aliases() == ["C", "D"]
    assert TupleBoth.signature().inputs.aliases() == ["A", "B"]


# --- "For new runtime code, define envelopes with @io", verbatim
@io
class Observation:
    value: float


@io
class Command:
    action: float


class Controller(Flow[Observation, Command]):
    def step(self, input: Observation) -> Command:
        return Command(action=input.value * 0.1)


class Observe(Flow[None, Observation]):
    def step(self, _: None) -> Observation:
        return Observation(value=5.0)


class CommandSink(JsonSink, Flow[Command, None]):
    pass


def _controller(path: str) -> Pipeline:
    pipe = Pipeline("controller")
    obs = Observe() @ Rate(hz=10)
    ctrl = Controller() @ Trigger("value")
    pipe.connect(obs, ctrl, sync=Latest())
    pipe.connect(ctrl, CommandSink(path) @ Trigger("action"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_io_controller_example(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_controller, backend, tmp_path, duration=0.8)
    assert seen and all(line == {"action": 0.5} for line in seen)


# --- composite access: inp.value, inp.A.value, _get_signal / _set_signal
class SourceA(Flow[None, A]):
    def step(self, _: None) -> A:
        return A(value=1.0, a_only=10.0)


class SourceB(Flow[None, B]):
    def step(self, _: None) -> B:
        return B(value=2.0)


class Fuse(Flow[(A, B), C]):  # type: ignore[misc]
    # An unqualified read of `value` (A and B both have it) must raise; all three front
    # ends now report it at the line that reads it (RET003), so `step` reads qualified.
    def step(self, inp):  # type: ignore[no-untyped-def]
        if not (inp._has_signal("a_only") and inp._has_signal("B.value")):
            return None  # on a worker, one source's message may arrive before the other's
        unique = inp.a_only
        inp._set_signal("A.value", inp.A.value * 100)
        return C(out=unique + inp.A.value + inp._get_signal("B.value"))


class CSink(JsonSink, Flow[C, None]):
    pass


def _fused(path: str) -> Pipeline:
    pipe = Pipeline("fused")
    fuse = Fuse() @ Trigger("A.value", "A.a_only", "B.value")
    pipe.connect(SourceA() @ Rate(hz=10), fuse, sync=Latest())
    pipe.connect(SourceB() @ Rate(hz=10), fuse, sync=Latest())
    pipe.connect(fuse, CSink(path) @ Trigger("out"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_composite_routing_and_access(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_fused, backend, tmp_path, duration=0.8)
    # 10 (unique a_only) + 100 (A.value set through the view) + 2 (B.value)
    assert seen and all(line == {"out": 112.0} for line in seen)


# --- collision and aliasing: Name__1, Name__2
@io
class Pose:
    x: float


class TwoPoses(Flow[None, (Pose, Pose)]):  # type: ignore[misc]
    def step(self, _: None) -> tuple[Pose, Pose]:
        return Pose(x=1.0), Pose(x=2.0)


class PosePair(Flow[(Pose, Pose), C]):  # type: ignore[misc]
    def step(self, inp):  # type: ignore[no-untyped-def]
        return C(out=inp.Pose__1.x * 10 + inp._get_signal("Pose__2.x"))


def _poses(path: str) -> Pipeline:
    pipe = Pipeline("poses")
    pair = PosePair() @ Trigger("Pose__1.x", "Pose__2.x")
    pipe.connect(TwoPoses() @ Rate(hz=10), pair, sync=Latest())  # default map, by alias
    pipe.connect(pair, CSink(path) @ Trigger("out"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_colliding_names_alias_and_route(backend: str, tmp_path: Path) -> None:
    ir = _poses("/dev/null").validate()
    assert [p.name for p in ir.node("two_poses").output_ports] == ["Pose__1.x", "Pose__2.x"]
    seen = run_graph(_poses, backend, tmp_path, duration=0.8)
    assert seen and all(line == {"out": 12.0} for line in seen)


class TwoClasses(Flow[None, (Pose, spec_support.Pose)]):  # type: ignore[misc]
    def step(self, _: None) -> tuple[Pose, spec_support.Pose]:
        return Pose(x=3.0), spec_support.Pose(x=4.0)


class ClassPair(Flow[(Pose, spec_support.Pose), C]):  # type: ignore[misc]
    def step(self, inp):  # type: ignore[no-untyped-def]
        return C(out=inp.Pose__1.x * 10 + inp.Pose__2.x)


def _two_classes(path: str) -> Pipeline:
    pipe = Pipeline("two-classes")
    pair = ClassPair() @ Trigger("Pose__1.x", "Pose__2.x")
    pipe.connect(TwoClasses() @ Rate(hz=10), pair, sync=Latest())
    pipe.connect(pair, CSink(path) @ Trigger("out"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_classes_sharing_a_name_route_by_alias(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_two_classes, backend, tmp_path, duration=0.8)
    assert seen and all(line == {"out": 34.0} for line in seen)


# --- lifecycle: instantiate from IR init config -> __lazy_init__ -> reset
class Lifecycle(Flow[None, Observation]):
    def __init__(self, log: str, tag: str = "") -> None:
        self.log, self.tag = log, tag
        self._note(f"init:{tag}")

    def _note(self, what: str) -> None:
        with open(self.log, "a") as fh:
            fh.write(json.dumps([os.getpid(), what]) + "\n")

    def __lazy_init__(self) -> None:
        self._note("lazy")

    def reset(self) -> None:
        self._note("reset")

    def step(self, _: None) -> Observation:
        self._note("step")
        return Observation(value=1.0)

    def finalize(self) -> None:
        self._note("finalize")


@pytest.mark.parametrize("backend", [*BACKENDS, "dora"])
def test_lifecycle_order_on_every_backend(backend: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "dora":
        dora_env(monkeypatch)
    log = tmp_path / "life.jsonl"
    pipe = Pipeline("life")
    pipe.add(Lifecycle(str(log), tag="from-ir") @ Rate(hz=10))
    execute(pipe, backend, steps=2, duration=1.5 if backend == "dora" else 0.6)
    events = [(pid, what) for pid, what in (json.loads(x) for x in log.read_text().splitlines())]
    stepped = next(pid for pid, what in events if what == "step")
    mine = [what for pid, what in events if pid == stepped]
    first_step = mine.index("step")
    # Built from its constructor arguments (the IR's init config in a worker), then
    # __lazy_init__, then reset, before any step; finalize when the run stops.
    assert mine[:first_step] == ["init:from-ir", "lazy", "reset"]
    assert mine[-1] == "finalize"


def test_strict_single_io_mode() -> None:
    pipe = _fused("/dev/null")
    assert pipe.validate().nodes  # the default validator allows composite signatures
    with pytest.raises(ValidationError) as err:
        pipe.validate(strict_single_io=True)
    assert set(err.value.codes) == {"RET004"}



def test_ambiguous_unqualified_read_raises() -> None:
    from retriever.contract import CompositeView
    from retriever.contract.errors import AmbiguousFieldError

    view = CompositeView(["A", "B"], [A(value=1.0, a_only=2.0), B(value=3.0)])
    with pytest.raises(AmbiguousFieldError):
        _ = view.value
    assert (view.a_only, view.A.value, view._get_signal("B.value")) == (2.0, 1.0, 3.0)
