"""An on_full policy that does not exist."""
from _shared import Controller, Sensor

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest(), edge_config=EdgeConfig(on_full="overwrite"))  # type: ignore[arg-type]  # expect: RET200
