"""Queue policy in edge_config, adapters in sync."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), edge_config={"*": EdgeConfig(qsize=4), "value": EdgeConfig(on_full="block")})
