"""RET003: a trigger field matching ports of two envelopes."""
from retriever.flow import Flow, Pipeline, Trigger, io


@io
class Left:
    value: float


@io
class Right:
    value: float


class Fuse(Flow[(Left, Right), None]):
    def step(self, input: tuple[Left, Right]) -> None:
        return None


pipe = Pipeline("ret003")
pipe.add(Fuse() @ Trigger("value"))
