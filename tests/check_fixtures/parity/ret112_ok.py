"""RET112, clean: two instances of one class connected in a chain."""
from _edges import Reading

from retriever.flow import Flow, Latest, Pipeline, Rate


class Relay(Flow[Reading, Reading]):
    def step(self, input: Reading) -> Reading:
        return input


pipe = Pipeline("ret112-ok")
first = Relay() @ Rate(hz=10)
second = Relay() @ Rate(hz=10)
pipe.connect(first, second, sync=Latest())
