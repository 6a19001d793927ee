"""RET107: two connections driving the same input port."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret107")
control = Controller() @ Rate(hz=10)
pipe.connect(Sensor() @ Rate(hz=10), control, sync=Latest())
pipe.connect(Sensor() @ Rate(hz=20), control, sync=Latest())
