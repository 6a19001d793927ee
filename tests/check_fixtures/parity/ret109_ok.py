"""RET109, clean: constructor arguments are plain data."""
from _edges import Reading

from retriever.flow import Flow, Pipeline, Rate


class Scaled(Flow[None, Reading]):
    def __init__(self, gain: float, names: list[str]) -> None:
        self.gain = gain
        self.names = names

    def step(self, input: None) -> Reading:
        return Reading(value=self.gain, stamp=0.0)


pipe = Pipeline("ret109-ok")
pipe.add(Scaled(2.0, ["a", "b"]) @ Rate(hz=10))
