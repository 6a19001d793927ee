"""A plain dataclass (not @io) as the input type."""
from dataclasses import dataclass

from _shared import Command

from retriever.flow import Flow, Pipeline, Rate


@dataclass
class Raw:
    value: float


class UsesRaw(Flow[Raw, Command]):  # expect: RET001
    def step(self, input: Raw) -> Command:
        return Command(action=input.value)


pipe = Pipeline("p")
pipe.add(UsesRaw() @ Rate(hz=10))
