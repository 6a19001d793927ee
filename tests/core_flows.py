"""Module-level envelopes and flows shared by the core tests (importable by name)."""

from __future__ import annotations

import numpy as np

from retriever.flow import Flow, io


@io
class SrcOut:
    value: int


@io
class AddOut:
    value: int


@io
class Image:
    frame: np.ndarray
    stamp: float


@io
class Pair:
    a: int
    b: int


@io
class Text:
    text: str


class Source(Flow[None, SrcOut]):
    """Counts up from ``start``."""

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self.events: list[str] = []

    def __lazy_init__(self) -> None:
        self.events.append("lazy_init")

    def reset(self) -> None:
        self.events.append("reset")
        self.n = self.start

    def step(self, _: None) -> SrcOut:
        self.n += 1
        return SrcOut(value=self.n)

    def finalize(self) -> None:
        self.events.append("finalize")


class AddOne(Flow[SrcOut, AddOut]):
    def step(self, input: SrcOut) -> AddOut:
        return AddOut(value=None if input.value is None else input.value + 1)


class Collect(Flow[AddOut, None]):
    def __init__(self) -> None:
        self.seen: list[int | None] = []

    def step(self, input: AddOut) -> None:
        self.seen.append(input.value)


class Boom(Flow[SrcOut, AddOut]):
    def step(self, input: SrcOut) -> AddOut:
        if input.value is not None and input.value >= 2:
            raise ValueError("boom at two")
        return AddOut(value=0)
