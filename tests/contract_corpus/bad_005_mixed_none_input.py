"""A composite input mixing None with an envelope."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Half(Flow[(Reading, None), Command]):  # expect: RET002
    def step(self, input: tuple[Reading, None]) -> Command:
        return Command(action=0.0)


pipe = Pipeline("p")
pipe.add(Half() @ Rate(hz=10))
