"""An Events window of negative duration."""
from _shared import Sensor, Smoother

from retriever.flow import Events, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Smoother() @ Rate(hz=1), sync=Events(duration=-1.0), map={"value": "value"})  # expect: RET200
