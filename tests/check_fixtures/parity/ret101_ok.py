"""RET101, clean: an explicit map between differently named ports."""
from _edges import Actuator, Controller

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("ret101-ok")
pipe.connect(Controller() @ Rate(hz=10), Actuator() @ Rate(hz=10), sync=Latest())
