"""RET006: step reads a port the input envelopes do not have."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Left:
    value: float


@io
class Right:
    value: float


class Fuse(Flow[tuple[Left, Right], None]):
    def step(self, input: tuple[Left, Right]) -> None:
        input._get_signal("Middle.value")  # type: ignore[attr-defined]


pipe = Pipeline("ret006")
pipe.add(Fuse() @ Rate(hz=10))
