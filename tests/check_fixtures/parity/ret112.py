"""RET112: a connection from a flow to itself."""
from _edges import Reading

from retriever.flow import Flow, Latest, Pipeline, Rate


class Loop(Flow[Reading, Reading]):
    def step(self, input: Reading) -> Reading:
        return input


pipe = Pipeline("ret112")
node = Loop() @ Rate(hz=10)
pipe.connect(node, node, sync=Latest())
