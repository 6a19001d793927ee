"""A base class without step and a subclass that has it."""
from _shared import Reading

from retriever.flow import Flow, Pipeline, Rate


class Base(Flow[None, Reading]):
    gain = 2.0


class Impl(Base):
    def step(self, input: None) -> Reading:
        return Reading(value=self.gain, stamp=0.0)


pipe = Pipeline("p")
pipe.add(Impl() @ Rate(hz=10))
