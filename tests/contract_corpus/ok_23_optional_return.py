"""step() may return None (nothing published this run)."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Trigger


class Gate(Flow[Reading, Command]):
    def step(self, input: Reading) -> Command | None:
        return None if input.value < 0 else Command(action=input.value)


pipe = Pipeline("p")
pipe.add(Gate() @ Trigger("value"))
