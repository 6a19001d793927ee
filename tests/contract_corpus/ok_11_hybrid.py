"""A Hybrid clock on an input field."""
from _shared import Controller

from retriever.flow import Hybrid, Pipeline

pipe = Pipeline("p")
pipe.add(Controller() @ Hybrid(10, trigger=["value"], on_lag="drop"))
