"""on_lag aliases accepted by the runtime and by mypy."""
from _shared import Counter, Sensor

from retriever.flow import Pipeline, Rate, Tick

pipe = Pipeline("p", default_on_lag="strict")
pipe.add(Sensor() @ Rate(hz=10, on_lag="panic"))
pipe.add(Counter() @ Tick(hz=5, on_lag="catch_up"))
