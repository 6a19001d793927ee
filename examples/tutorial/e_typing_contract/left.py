"""An envelope named ``Reading`` (see 01_composite_aliasing)."""

from retriever.flow import io


@io
class Reading:
    """Left sensor reading."""

    value: int
