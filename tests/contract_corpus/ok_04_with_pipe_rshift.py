"""The handbook's `with pipe: a >> b` with a pipeline default."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p", default_sync=Latest())
with pipe:
    Sensor() @ Rate(hz=10) >> Controller() @ Rate(hz=10)
