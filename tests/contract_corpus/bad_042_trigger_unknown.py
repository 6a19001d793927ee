"""A Trigger naming a field the flow has no input for."""
from _shared import Controller

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("p")
pipe.add(Controller() @ Trigger("speed"))  # expect: RET106
