"""Events hands a list of (t, value) to a float port."""
from _shared import Controller, Sensor

from retriever.flow import Events, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Events(duration=1.0))  # expect: RET104
