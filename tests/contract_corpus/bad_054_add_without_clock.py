"""pipe.add of a flow without a clock."""
from _shared import Sensor

from retriever.flow import Pipeline

pipe = Pipeline("p")
pipe.add(Sensor())  # type: ignore[arg-type]  # expect: RET110
