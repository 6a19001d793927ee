"""sync for every port and a wildcard EdgeConfig adapter."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Hold, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), edge_config=EdgeConfig(adapter=Hold(0.1)))  # expect: RET105
