"""RET200: a clock frequency that is not positive."""
from _edges import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("ret200")
pipe.add(Sensor() @ Rate(hz=0))
