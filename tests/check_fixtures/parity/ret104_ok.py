"""RET104, clean: an int port feeding a float port (numbers widen)."""
from _edges import Count, Reading

from retriever.flow import Flow, Latest, Pipeline, Rate


class Counts(Flow[None, Count]):
    def step(self, input: None) -> Count:
        return Count(value=1)


class Reads(Flow[Reading, None]):
    def step(self, input: Reading) -> None:
        return None


pipe = Pipeline("ret104-ok")
pipe.connect(Counts() @ Rate(hz=10), Reads() @ Rate(hz=10), sync=Latest())
