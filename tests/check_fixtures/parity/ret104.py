"""RET104: a float port feeding an int port."""
from _edges import Counter, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret104")
pipe.connect(Sensor() @ Rate(hz=10), Counter() @ Rate(hz=10), sync=Latest(),
             map={"value": "value"})
