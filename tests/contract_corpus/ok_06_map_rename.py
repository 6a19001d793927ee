"""An explicit map between differently named ports."""
from _shared import Actuator, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Actuator() @ Rate(hz=10), sync=Latest(), map={"value": "action"})
