"""RET007: a flow put to use without a step() method."""
from _edges import Reading

from retriever.flow import Flow, Pipeline, Rate


class Idle(Flow[None, Reading]):
    def reset(self) -> None:
        self.n = 0


pipe = Pipeline("ret007")
pipe.add(Idle() @ Rate(hz=10))
