"""RET002, clean: None alone on a side, envelopes in the composite."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


@io
class Status:
    ok: bool


class Good(Flow[(Reading, Status), None]):
    def step(self, input: tuple[Reading, Status]) -> None:
        return None


pipe = Pipeline("ret002-ok")
pipe.add(Good() @ Rate(hz=10))
