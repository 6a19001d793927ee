"""One port's adapter set in both sync and edge_config."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Hold, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync={"value": Latest(), "stamp": Latest()}, edge_config={"value": EdgeConfig(adapter=Hold(0.1))})  # expect: RET105
