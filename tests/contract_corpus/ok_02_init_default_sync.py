"""A process-wide default sync set with retriever.init."""
from _shared import Controller, Sensor

import retriever
from retriever.flow import Latest, Rate

retriever.init(default_sync=Latest())
retriever.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))
