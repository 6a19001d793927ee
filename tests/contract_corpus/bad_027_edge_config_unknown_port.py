"""An edge_config key naming a port the source lacks."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), edge_config={"temperature": EdgeConfig(qsize=2)})  # expect: RET102
