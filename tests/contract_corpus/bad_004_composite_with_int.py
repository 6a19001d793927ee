"""A composite input with one element that is not an envelope."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Mix(Flow[tuple[Reading, float], Command]):  # expect: RET001
    def step(self, input: tuple[Reading, float]) -> Command:
        return Command(action=0.0)


pipe = Pipeline("p")
pipe.add(Mix() @ Rate(hz=10))
