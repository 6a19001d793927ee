"""RET106: a Trigger naming a field the flow has no input port for."""
from _edges import Controller

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("ret106")
pipe.add(Controller() @ Trigger("speed"))
