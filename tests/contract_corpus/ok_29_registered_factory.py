"""A registered pipeline factory building its graph."""
from _shared import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate
from retriever.registry import register_pipeline


@register_pipeline("corpus-ok-29")
def build() -> Pipeline:
    pipe = Pipeline("registered")
    pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest())
    return pipe
