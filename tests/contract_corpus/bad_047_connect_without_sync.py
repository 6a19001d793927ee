"""pipe.connect without sync= and no default."""
from _shared import Controller, Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))  # expect: RET108
