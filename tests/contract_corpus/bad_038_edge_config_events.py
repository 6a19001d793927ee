"""An Events adapter set through edge_config into a float port."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Events, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync={"stamp": Latest()}, edge_config={"value": EdgeConfig(adapter=Events(0.5))})  # expect: RET104
