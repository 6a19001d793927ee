"""A Hybrid naming a field the flow has no input for."""
from _shared import Controller

from retriever.flow import Hybrid, Pipeline

pipe = Pipeline("p")
pipe.add(Controller() @ Hybrid(20, trigger="emergency"))  # expect: RET106
