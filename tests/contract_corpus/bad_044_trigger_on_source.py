"""A Trigger on a source flow, which has no inputs at all."""
from _shared import Sensor

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("p")
pipe.add(Sensor() @ Trigger("value"))  # expect: RET106
