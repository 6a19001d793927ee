"""A per-port sync dict covering every carried port."""
from _shared import Controller, Sensor

from retriever.flow import Hold, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync={"value": Latest(), "stamp": Hold(0.1)})
