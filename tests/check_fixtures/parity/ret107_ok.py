"""RET107, clean: two sources, each driving its own port."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret107-ok")
control = Controller() @ Rate(hz=10)
pipe.connect(Sensor() @ Rate(hz=10), control, sync=Latest(), map={"value": "value"})
pipe.connect(Sensor() @ Rate(hz=10), control, sync=Latest(), map={"stamp": "stamp"})
