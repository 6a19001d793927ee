"""A flow connected to itself."""
from _shared import Reading

from retriever.flow import Flow, Latest, Pipeline, Rate


class Echo(Flow[Reading, Reading]):
    def step(self, input: Reading) -> Reading:
        return input


pipe = Pipeline("p")
echo = Echo() @ Rate(hz=10)
pipe.connect(echo, echo, sync=Latest())  # expect: RET112
