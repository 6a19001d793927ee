"""Window(agg='median') is not an aggregation."""
from _shared import Controller, Sensor

from retriever.flow import Pipeline, Rate, Window

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Window(1.0, agg="median"))  # type: ignore[arg-type]  # expect: RET200
