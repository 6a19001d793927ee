"""Exact and Linear adapters keep the stored type."""
from _shared import Controller, Sensor

from retriever.flow import Pipeline, Rate
from retriever.flow.adapter import Exact, Linear

pipe = Pipeline("p")
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync={"value": Linear(), "stamp": Exact(tolerance=0.01)})
