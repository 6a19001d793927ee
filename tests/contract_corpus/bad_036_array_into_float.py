"""A numpy array port mapped onto a float port."""
from _shared import Camera, Controller

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Camera() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), map={"pixels": "value"})  # expect: RET104
