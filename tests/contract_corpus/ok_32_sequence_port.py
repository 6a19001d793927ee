"""A list port feeding a Sequence port."""
from collections.abc import Sequence

from _shared import Planner

from retriever.flow import Flow, Latest, Pipeline, Rate, io


@io
class Route:
    steps: Sequence[float]


class Follow(Flow[Route, None]):
    def step(self, input: Route) -> None:
        return None


pipe = Pipeline("p")
pipe.connect(Planner() @ Rate(hz=1), Follow() @ Rate(hz=10), sync=Latest())
