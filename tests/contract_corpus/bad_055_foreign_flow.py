"""A flow handle of one pipeline connected in another."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

first = Pipeline("first")
sensor = first.add(Sensor() @ Rate(hz=10))
second = Pipeline("second")
second.connect(sensor, Controller() @ Rate(hz=10), sync=Latest())  # expect: RET111
