"""The source of a connection has no clock."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor(), Controller() @ Rate(hz=10), sync=Latest())  # type: ignore[arg-type]  # expect: RET110
