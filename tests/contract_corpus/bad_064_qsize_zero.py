"""An edge queue of size zero."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), edge_config=EdgeConfig(qsize=0))  # expect: RET200
