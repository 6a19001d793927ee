"""A float port mapped onto a str port."""
from _shared import LabelSink, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), LabelSink() @ Rate(hz=10), sync=Latest(), map={"value": "text"})  # expect: RET104
