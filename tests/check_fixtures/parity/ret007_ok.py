"""RET007, clean: an abstract-looking base without step, used through a subclass."""
from _edges import Reading

from retriever.flow import Flow, Pipeline, Rate


class Base(Flow[None, Reading]):
    scale = 1.0


class Concrete(Base):
    def step(self, input: None) -> Reading:
        return Reading(value=self.scale, stamp=0.0)


pipe = Pipeline("ret007-ok")
pipe.add(Concrete() @ Rate(hz=10))
