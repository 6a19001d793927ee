"""An int port feeding a float port (numbers widen)."""
from _shared import Controller, Counter

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Counter() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest())
