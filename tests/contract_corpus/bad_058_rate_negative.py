"""A negative rate."""
from _shared import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("p")
pipe.add(Sensor() @ Rate(-10))  # expect: RET200
