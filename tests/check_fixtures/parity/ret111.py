"""RET111: a flow handle of one pipeline connected in another."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

first = Pipeline("ret111-a")
sensor = first.add(Sensor() @ Rate(hz=10))
second = Pipeline("ret111-b")
second.connect(sensor, Controller() @ Rate(hz=10), sync=Latest())
