from retriever.flow import Latest, Pipeline, Rate
from retriever.registry import register_pipeline

from .flows import Counter, Sensor


@register_pipeline("check-fixture-bad")
def bad() -> Pipeline:
    """A registered pipeline with a type mismatch."""
    pipe = Pipeline("bad")
    pipe.connect(Sensor() @ Rate(hz=10), Counter() @ Rate(hz=10), sync=Latest())
    return pipe


@register_pipeline("check-fixture-broken")
def broken() -> Pipeline:
    raise RuntimeError("factory exploded")
