"""A negative Hold debounce."""
from _shared import Controller, Sensor

from retriever.flow import Hold, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Hold(debounce=-0.5))  # expect: RET200
