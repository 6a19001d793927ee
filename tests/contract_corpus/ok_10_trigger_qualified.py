"""A Trigger on a qualified composite field."""
from _shared import Fuse

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("p")
pipe.add(Fuse() @ Trigger("Imu.x", "theta"))
