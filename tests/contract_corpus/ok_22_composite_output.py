"""A composite output returned in declared order."""
from _shared import Command, Count, Reading

from retriever.flow import Flow, Pipeline, Rate


class Split(Flow[Reading, tuple[Command, Count]]):
    def step(self, input: Reading) -> tuple[Command, Count]:
        return Command(action=input.value), Count(value=1)


pipe = Pipeline("p")
pipe.add(Split() @ Rate(hz=10))
