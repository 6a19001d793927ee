"""Chunking with a zero step."""
from _shared import Planner, Tracker

from retriever.flow import Pipeline, Rate
from retriever.flow.adapter import Chunking

pipe = Pipeline("p")
pipe.connect(Planner() @ Rate(hz=1), Tracker() @ Rate(hz=50), sync=Chunking(dt=0))  # expect: RET200
