"""Window(agg='mean') of ints into a float port."""
from _shared import Controller, Counter

from retriever.flow import Pipeline, Rate, Window

pipe = Pipeline("p")
pipe.connect(Counter() @ Rate(hz=100), Controller() @ Rate(hz=10), sync=Window(0.5, agg="mean"))
