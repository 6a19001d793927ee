"""Events into a port declared as the list of (t, value)."""
from _shared import Sensor, Smoother

from retriever.flow import Events, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=100), Smoother() @ Rate(hz=10), sync=Events(duration=0.1), map={"value": "value"})
