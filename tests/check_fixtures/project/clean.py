from retriever.flow import Flow, Latest, Pipeline, Rate, io


@io
class Reading:
    value: float


class Source(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0)


class Sink(Flow[Reading, None]):
    def step(self, input: Reading) -> None:
        return None


pipe = Pipeline("clean")
pipe.connect(Source() @ Rate(hz=10), Sink() @ Rate(hz=10), sync=Latest())
