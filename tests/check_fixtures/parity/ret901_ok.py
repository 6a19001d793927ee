"""RET901, clean: a registered factory that builds its graph."""
from _edges import Controller, Sensor

from retriever.flow import Latest, Pipeline, Rate
from retriever.registry import register_pipeline


@register_pipeline("parity-ret901-ok")
def working() -> Pipeline:
    pipe = Pipeline("parity-ret901-ok")
    pipe.connect(Sensor() @ Rate(hz=10), Controller() @ Rate(hz=10), sync=Latest())
    return pipe
