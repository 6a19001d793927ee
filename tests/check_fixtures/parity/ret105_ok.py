"""RET105, clean: adapters in sync, queue policy in edge_config."""
from _edges import Controller, Sensor

from retriever.flow import EdgeConfig, Hold, Latest, Pipeline, Rate

pipe = Pipeline("ret105-ok")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10),
             sync={"value": Latest(), "stamp": Hold(0.1)},
             edge_config={"*": EdgeConfig(qsize=8), "value": EdgeConfig(on_full="block")})
