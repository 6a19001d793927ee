"""RET901: a registered factory that raises (only the checker calls it)."""
from retriever.flow import Pipeline
from retriever.registry import register_pipeline


@register_pipeline("parity-ret901")
def broken() -> Pipeline:
    raise RuntimeError("the camera is not plugged in")
