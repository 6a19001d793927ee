"""A pipeline default sync."""
from _shared import Controller, Sensor

from retriever.flow import Hold, Pipeline, Rate

pipe = Pipeline("p", default_sync=Hold(debounce=0.05))
pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))
