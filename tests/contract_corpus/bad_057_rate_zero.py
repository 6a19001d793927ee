"""Rate(hz=0)."""
from _shared import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("p")
pipe.add(Sensor() @ Rate(hz=0))  # expect: RET200
