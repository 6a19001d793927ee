"""Clean code written like the specification's examples: no errors expected."""
from __future__ import annotations

import retriever
from retriever.flow import Flow, Hold, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, io


@io
class Observation:
    value: float


@io
class Command:
    action: float


@io
class SrcOut:
    value: int


@io
class AddOut:
    value: int


class Controller(Flow[Observation, Command]):
    def step(self, input: Observation) -> Command:
        return Command(action=input.value * 0.1)


class Source(Flow[None, SrcOut]):
    def step(self, input: None) -> SrcOut:
        return SrcOut(value=1)


class AddOne(Flow[SrcOut, AddOut]):
    def step(self, input: SrcOut) -> AddOut:
        return AddOut(value=input.value + 1)


class Printer(Flow[AddOut, None]):
    def step(self, input: AddOut) -> None:
        print(input.value)


class Pair(Flow[(Observation, SrcOut), Command]):
    def step(self, input: tuple[Observation, SrcOut]) -> Command:
        return Command(action=input[0].value + input[1].value)


class Split(Flow[Observation, tuple[Command, AddOut]]):
    def step(self, input: Observation) -> tuple[Command, AddOut]:
        return Command(action=input.value), AddOut(value=0)


empty = Observation()
keyword = Observation(value=1.0)
positional = Observation(2.0)
cleared = Observation(value=None)

pipe = Pipeline("demo")
src = Source() @ Rate(hz=10)
add = AddOne() @ Rate(hz=10)
pipe.connect(src, add, sync=Latest())
pipe.connect(src, AddOne() @ Trigger("value"), sync={"value": Hold()}, map={"value": "value"})
pipe.connect(add, Printer() @ Hybrid(10, trigger="value"), sync=Latest())

with Pipeline("chained") as chained:
    a = Source() @ Tick(hz=10)
    b = (AddOne() @ Rate(hz=10)).named("b")
    a >> b
    b.then(Printer() @ Rate(hz=5), sync=Latest())

retriever.init(default_sync=Latest())
first = Source() @ Rate(hz=10)
second = AddOne() @ Rate(hz=10)
retriever.connect(first.named("first"), second)


@io
class Pose:
    x: float


class TwoPoses(Flow[None, (Pose, Pose)]):
    def step(self, input: None) -> tuple[Pose, Pose]:
        return Pose(x=1.0), Pose(x=2.0)


class PosePair(Flow[(Pose, Pose), None]):
    def step(self, input: tuple[Pose, Pose]) -> None:
        return None


# The default map pairs Pose__1.x -> Pose__1.x and Pose__2.x -> Pose__2.x.
pipe.connect(TwoPoses() @ Rate(hz=10), PosePair() @ Rate(hz=10), sync=Latest())
