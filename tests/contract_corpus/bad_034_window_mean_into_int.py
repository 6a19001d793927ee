"""Window(agg='mean') of ints is a float; the port is int."""
from _shared import Counter, CountSink

from retriever.flow import Pipeline, Rate, Window

pipe = Pipeline("p")
pipe.connect(Counter() @ Rate(hz=10), CountSink() @ Rate(hz=10), sync=Window(1.0, agg="mean"))  # expect: RET104
