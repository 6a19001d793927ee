"""A flow without step(), put to use with a clock."""
from _shared import Reading

from retriever.flow import Flow, Pipeline, Rate


class Forgotten(Flow[None, Reading]):
    def reset(self) -> None:
        self.n = 0


pipe = Pipeline("p")
pipe.add(Forgotten() @ Rate(hz=10))  # expect: RET007
