"""A float port feeding an int port."""
from _shared import CountSink, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), CountSink() @ Rate(hz=10), sync=Latest(), map={"value": "value"})  # expect: RET104
