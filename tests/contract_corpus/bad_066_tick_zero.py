"""Tick(hz=0)."""
from _shared import Counter

from retriever.flow import Pipeline, Tick

pipe = Pipeline("p")
pipe.add(Counter() @ Tick(hz=0))  # expect: RET200
