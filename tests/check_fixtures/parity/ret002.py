"""RET002: a composite signature mixing None with envelopes."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


class Bad(Flow[(Reading, None), Reading]):
    def step(self, input: tuple[Reading, None]) -> Reading:
        return input[0]


pipe = Pipeline("ret002")
pipe.add(Bad() @ Rate(hz=10))
