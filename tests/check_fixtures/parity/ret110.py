"""RET110: a flow connected without a clock."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret110")
pipe.connect(Sensor(), Controller() @ Rate(hz=10), sync=Latest())  # type: ignore[arg-type]
