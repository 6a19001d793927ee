"""Clean: ``>>`` and ``then`` without sync= sample Latest() (handbook 3.2); no RET108."""
from _edges import Actuator, Controller, Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("rshift")
with pipe:
    sensor = Sensor() @ Rate(hz=10)
    control = Controller() @ Rate(hz=10)
    sensor >> control
control.then(Actuator() @ Rate(hz=10))
