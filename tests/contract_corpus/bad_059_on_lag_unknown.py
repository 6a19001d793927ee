"""An on_lag policy that does not exist."""
from _shared import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("p")
pipe.add(Sensor() @ Rate(hz=10, on_lag="explode"))  # type: ignore[arg-type]  # expect: RET200
