from retriever.flow import io


@io
class Reading:
    value: float


@io
class Count:
    value: int
