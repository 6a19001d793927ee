"""A composite output mixing None with an envelope."""
from _shared import Command, Reading

from retriever.flow import Flow, Pipeline, Rate


class Half(Flow[Reading, tuple[None, Command]]):  # expect: RET002
    def step(self, input: Reading) -> tuple[None, Command]:
        return None, Command(action=0.0)


pipe = Pipeline("p")
pipe.add(Half() @ Rate(hz=10))
