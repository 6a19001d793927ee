"""A Hybrid trigger on an ambiguous field."""
from _shared import Fuse

from retriever.flow import Hybrid, Pipeline

pipe = Pipeline("p")
pipe.add(Fuse() @ Hybrid(10, trigger=["y"]))  # expect: RET003
