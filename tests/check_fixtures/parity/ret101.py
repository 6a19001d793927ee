"""RET101: a connection that carries no port (no field names in common, no map)."""
from _edges import Actuator, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret101")
pipe.connect(Sensor() @ Rate(hz=10), Actuator() @ Rate(hz=10), sync=Latest())
