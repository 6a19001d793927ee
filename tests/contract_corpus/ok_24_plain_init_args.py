"""Constructor arguments that are plain data."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Gain(Flow[Reading, Command]):
    def __init__(self, k: float, names: list[str], table: dict[str, int]) -> None:
        self.k, self.names, self.table = k, names, table

    def step(self, input: Reading) -> Command:
        return Command(action=self.k * input.value)


pipe = Pipeline("p")
pipe.add(Gain(0.5, ["a"], {"b": 1}) @ Rate(hz=10))
