"""Latest hands a single float to a port expecting the event list."""
from _shared import Sensor, Smoother

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Smoother() @ Rate(hz=10), sync={"value": Latest()}, map={"value": "value"})  # expect: RET104
