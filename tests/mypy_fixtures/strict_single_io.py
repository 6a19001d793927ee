"""Composite signatures under ``strict_single_io = true`` (RET004); mypy config in the test."""
from retriever.flow import Flow, io


@io
class Left:
    a: float


@io
class Right:
    b: float


class Fuse(Flow[(Left, Right), Left]):
    def step(self, input: tuple[Left, Right]) -> Left:
        return input[0]


class Fan(Flow[Left, tuple[Left, Right]]):
    def step(self, input: Left) -> tuple[Left, Right]:
        return input, Right(b=1.0)


class Single(Flow[Left, Right]):
    def step(self, input: Left) -> Right:
        return Right(b=input.a)
