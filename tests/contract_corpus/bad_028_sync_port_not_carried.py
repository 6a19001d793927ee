"""A sync key for a port the map does not carry."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), map={"value": "value"}, sync={"value": Latest(), "stamp": Latest()})  # expect: RET102
