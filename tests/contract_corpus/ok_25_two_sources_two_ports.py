"""Two sources, each mapped to its own port."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
control = Controller() @ Rate(hz=10)
pipe.connect(Sensor() @ Rate(hz=10), control, sync=Latest(), map={"value": "value"})
pipe.connect(Sensor() @ Rate(hz=5), control, sync=Latest(), map={"stamp": "stamp"})
