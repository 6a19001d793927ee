"""RET111, clean: a new flow instance for the second pipeline."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

first = Pipeline("ret111-ok-a")
first.add(Sensor() @ Rate(hz=10))
second = Pipeline("ret111-ok-b")
second.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest())
