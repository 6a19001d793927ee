"""A composite output returned in the wrong order."""
from _shared import Command, Count, Reading

from retriever.flow import Flow, Pipeline, Rate


class Split(Flow[Reading, tuple[Command, Count]]):
    def step(self, input: Reading) -> tuple[Count, Command]:  # type: ignore[override]  # expect: RET005
        return Count(value=1), Command(action=0.0)


pipe = Pipeline("p")
pipe.add(Split() @ Rate(hz=10))
