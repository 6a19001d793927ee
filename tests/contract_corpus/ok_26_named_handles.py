"""Named handles with deployment hints."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
sensor = (Sensor() @ Rate(hz=10)).named("imu")
pipe.connect(sensor, (Controller() @ Rate(hz=10)).named("ctrl"), sync=Latest())
