"""RET102: a sync key naming a port the source does not publish."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret102")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10),
             sync={"value": Latest(), "stamp": Latest(), "speed": Latest()})
