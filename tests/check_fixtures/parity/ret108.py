"""RET108: no sync policy and no default (mypy sees it unless the module sets a default)."""
from _edges import Controller, Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("ret108")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))
