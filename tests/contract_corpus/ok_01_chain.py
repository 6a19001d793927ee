"""Sensor -> controller -> actuator with explicit sync."""
from _shared import Actuator, Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
sensor, control = Sensor() @ Rate(hz=50), Controller() @ Rate(hz=50)
pipe.connect(sensor, control, sync=Latest())
pipe.connect(control, Actuator() @ Rate(hz=50), sync=Latest())
