"""An adapter set through edge_config for a port sync leaves out."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Hold, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync={"value": Latest()}, edge_config={"stamp": EdgeConfig(adapter=Hold(0.2))})
