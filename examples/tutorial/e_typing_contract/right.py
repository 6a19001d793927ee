"""Another envelope named ``Reading`` (see 01_composite_aliasing)."""

from retriever.flow import io


@io
class Reading:
    """Right sensor reading."""

    value: int
