"""A Trigger naming one of the flow's output fields."""
from _shared import Controller

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("p")
pipe.add(Controller() @ Trigger("action"))  # expect: RET106
