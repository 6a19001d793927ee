"""RET109: a constructor argument that cannot be rebuilt without pickle."""
from collections.abc import Callable

from _edges import Reading

from retriever.flow import Flow, Pipeline, Rate


class Guarded(Flow[None, Reading]):
    def __init__(self, make: Callable[[], float]) -> None:
        self.make = make

    def step(self, input: None) -> Reading:
        return Reading(value=self.make(), stamp=0.0)


pipe = Pipeline("ret109")
pipe.add(Guarded(lambda: 1.0) @ Rate(hz=10))
