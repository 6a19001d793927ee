"""numpy array ports end to end."""
import numpy as np

from _shared import Camera, Frame

from retriever.flow import Flow, Latest, Pipeline, Rate


class Viewer(Flow[Frame, None]):
    def step(self, input: Frame) -> None:
        np.asarray(input.pixels).sum()


pipe = Pipeline("p")
pipe.connect(Camera() @ Rate(hz=30), Viewer() @ Rate(hz=30), sync=Latest())
