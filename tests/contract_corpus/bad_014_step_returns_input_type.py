"""step() annotated to return the input type."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Echo(Flow[Reading, Command]):
    def step(self, input: Reading) -> Reading:  # type: ignore[override]  # expect: RET005
        return input


pipe = Pipeline("p")
pipe.add(Echo() @ Rate(hz=10))
