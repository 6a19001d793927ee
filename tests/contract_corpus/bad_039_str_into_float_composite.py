"""A str port feeding a float port of a composite."""
from _shared import Fuse, Label

from retriever.flow import Flow, Latest, Pipeline, Rate


class Names(Flow[None, Label]):
    def step(self, input: None) -> Label:
        return Label(text="a")


pipe = Pipeline("p")
pipe.connect(Names() @ Rate(hz=1), Fuse() @ Rate(hz=10), sync=Latest(), map={"text": "Pose.theta"})  # expect: RET104
