"""A Trigger on a field that two envelopes of a composite have."""
from _shared import Fuse

from retriever.flow import Pipeline, Trigger

pipe = Pipeline("p")
pipe.add(Fuse() @ Trigger("x"))  # expect: RET003
