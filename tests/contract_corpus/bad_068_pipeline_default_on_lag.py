"""A pipeline-wide on_lag default that does not exist."""
from _shared import Sensor

from retriever.flow import Pipeline, Rate

pipe = Pipeline("p", default_on_lag="sometimes")  # type: ignore[arg-type]  # expect: RET200
pipe.add(Sensor() @ Rate(hz=10))
