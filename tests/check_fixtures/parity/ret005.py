"""RET005: step's return annotation is not the flow's output type."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


@io
class Command:
    action: float


class Wrong(Flow[Reading, Command]):
    def step(self, input: Reading) -> Reading:  # type: ignore[override]
        return input


pipe = Pipeline("ret005")
pipe.add(Wrong() @ Rate(hz=10))
