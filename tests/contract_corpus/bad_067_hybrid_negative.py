"""A Hybrid clock with a negative rate."""
from _shared import Controller

from retriever.flow import Hybrid, Pipeline

pipe = Pipeline("p")
pipe.add(Controller() @ Hybrid(-1, trigger=["value"]))  # expect: RET200
