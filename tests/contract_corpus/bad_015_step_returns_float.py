"""step() annotated to return a float."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Raw(Flow[Reading, Command]):
    def step(self, input: Reading) -> float:  # type: ignore[override]  # expect: RET005
        return input.value


pipe = Pipeline("p")
pipe.add(Raw() @ Rate(hz=10))
