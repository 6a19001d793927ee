"""RET102, clean: sync keys name ports the source publishes."""
from _edges import Controller, Sensor

from retriever.flow import Hold, Latest, Pipeline, Rate

pipe = Pipeline("ret102-ok")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10),
             sync={"value": Latest(), "stamp": Hold(0.1)})
