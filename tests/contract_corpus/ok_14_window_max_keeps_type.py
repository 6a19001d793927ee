"""Window(agg='max') of ints into an int port."""
from _shared import Counter, CountSink

from retriever.flow import Pipeline, Rate, Window

pipe = Pipeline("p")
pipe.connect(Counter() @ Rate(hz=100), CountSink() @ Rate(hz=10), sync=Window(duration=0.5, agg="max"))
