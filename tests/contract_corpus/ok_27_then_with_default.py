"""then() inside a pipeline with a default sync."""
from _shared import Actuator, Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p", default_sync=Latest())
with pipe:
    (Sensor() @ Rate(hz=10)).then(Controller() @ Rate(hz=10)).then(Actuator() @ Rate(hz=10))
