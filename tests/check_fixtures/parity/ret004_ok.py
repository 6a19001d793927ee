"""RET004, clean: single envelopes on both sides (fine in strict single-IO mode)."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Both:
    a: float
    b: float


class Fuse(Flow[Both, Both]):
    def step(self, input: Both) -> Both:
        return input


pipe = Pipeline("ret004-ok")
pipe.add(Fuse() @ Rate(hz=10))
