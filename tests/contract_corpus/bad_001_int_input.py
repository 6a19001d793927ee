"""A flow whose input is a bare int, not an @io envelope."""
from _shared import Command

from retriever.flow import Flow, Pipeline, Rate


class Scale(Flow[int, Command]):  # expect: RET001
    def step(self, input: int) -> Command:
        return Command(action=float(input))


pipe = Pipeline("p")
pipe.add(Scale() @ Rate(hz=10))
