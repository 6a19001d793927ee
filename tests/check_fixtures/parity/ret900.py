"""RET900: a module that fails while it is imported (only the checker imports it)."""
import json

from _edges import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("ret900")
pipe.add(Sensor() @ Rate(hz=10))
settings = json.loads("{not json")
