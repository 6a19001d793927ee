"""RET108, clean: the pipeline sets a default sync policy."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret108-ok", default_sync=Latest())
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))
