"""RET001, clean: every signature element is an @io envelope or None."""
from retriever.flow import Flow, Pipeline, Rate, io


@io
class Reading:
    value: float


class Good(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0)


pipe = Pipeline("ret001-ok")
pipe.add(Good() @ Rate(hz=10))
