"""RET003, clean: the trigger field is qualified with the envelope alias."""
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


pipe = Pipeline("ret003-ok")
pipe.add(Fuse() @ Trigger("Left.value"))
