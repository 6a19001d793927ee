"""Two envelopes with the same class name: Name__1 / Name__2."""
from retriever.flow import Flow, Pipeline, Rate, io


class Left:
    @io
    class Reading:
        value: float


class Right:
    @io
    class Reading:
        value: float


class Both(Flow[tuple[Left.Reading, Right.Reading], None]):
    def step(self, input: tuple[Left.Reading, Right.Reading]) -> None:
        total = input.Reading__1.value + input._get_signal("Reading__2.value")
        del total


pipe = Pipeline("p")
pipe.add(Both() @ Rate(hz=10))
