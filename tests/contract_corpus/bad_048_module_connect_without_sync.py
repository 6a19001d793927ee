"""retriever.connect without sync= and no default."""
from _shared import Controller, Sensor

import retriever
from retriever.flow import Rate

retriever.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10))  # expect: RET108
