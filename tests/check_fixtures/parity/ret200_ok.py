"""RET200, clean: good clock, adapter and edge-config values (aliases included)."""
from _edges import Controller, Sensor

from retriever.flow import EdgeConfig, Pipeline, Rate, Window

pipe = Pipeline("ret200-ok")
pipe.connect(Sensor() @ Rate(hz=0.5, on_lag="panic"), Controller() @ Rate(hz=10),
             sync=Window(0.5, agg="last"), edge_config=EdgeConfig(qsize=4, on_full="block"))
