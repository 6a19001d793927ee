"""RET005, clean: step returns the output type (or None: nothing published)."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


@io
class Command:
    action: float


class Right(Flow[Reading, Command]):
    def step(self, input: Reading) -> Command | None:
        return Command(action=input.value)


pipe = Pipeline("ret005-ok")
pipe.add(Right() @ Rate(hz=10))
