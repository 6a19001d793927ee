"""A list port feeding a float port without Chunking."""
from _shared import Planner, Tracker

from retriever.flow import Latest, Pipeline, Rate

pipe = Pipeline("p")
pipe.connect(Planner() @ Rate(hz=1), Tracker() @ Rate(hz=50), sync=Latest())  # expect: RET104
