"""RET106, clean: the trigger names an input port."""
from _edges import Controller

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("ret106-ok")
pipe.add(Controller() @ Trigger("value"))
