"""A flow constructed with a lambda, which cannot travel to a worker."""
from collections.abc import Callable

from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Mapped(Flow[Reading, Command]):
    def __init__(self, fn: Callable[[float], float]) -> None:
        self.fn = fn

    def step(self, input: Reading) -> Command:
        return Command(action=self.fn(input.value))


pipe = Pipeline("p")
pipe.add(Mapped(lambda v: v * 2) @ Rate(hz=10))  # expect: RET109
