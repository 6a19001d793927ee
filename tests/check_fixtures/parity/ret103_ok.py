"""RET103, clean: map values name ports the destination has."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret103-ok")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(),
             map={"value": "value", "stamp": "stamp"})
