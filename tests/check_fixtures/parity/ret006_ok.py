"""RET006, clean: qualified names of envelopes the view has."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Left:
    value: float


@io
class Right:
    value: float


class Fuse(Flow[tuple[Left, Right], None]):
    def step(self, input: tuple[Left, Right]) -> None:
        input._get_signal("Right.value")  # type: ignore[attr-defined]


pipe = Pipeline("ret006-ok")
pipe.add(Fuse() @ Rate(hz=10))
