"""RET001: a signature element that is not an @io envelope."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


class Bad(Flow[int, Reading]):
    def step(self, input: int) -> Reading:
        return Reading(value=float(input))


pipe = Pipeline("ret001")
pipe.add(Bad() @ Rate(hz=10))
