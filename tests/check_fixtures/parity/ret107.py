"""RET107: two connections driving the same input port."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret107")
control = Controller() @ Rate(hz=10)
for _ in range(2):
    pipe.connect(Sensor() @ Rate(hz=10), control, sync=Latest())
