"""RET004: a composite signature, rejected in strict single-IO mode only."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Left:
    a: float


@io
class Right:
    b: float


class Fuse(Flow[tuple[Left, Right], Left]):
    def step(self, input: tuple[Left, Right]) -> Left:
        return input[0]


pipe = Pipeline("ret004")
pipe.add(Fuse() @ Rate(hz=10))
