"""Small flows shared by the IR and execution tutorials."""

from __future__ import annotations

from retriever.flow import Flow, io


@io
class Value:
    """A number."""

    value: float


class Counter(Flow[None, Value]):
    """1, 2, 3, ..."""

    def reset(self) -> None:
        self.n = 0.0

    def step(self, _: None) -> Value:
        self.n += 1
        return Value(value=self.n)


class Scale(Flow[Value, Value]):
    """Multiplies by ``factor``."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def step(self, input: Value) -> Value:
        return Value(value=(input.value or 0.0) * self.factor)


class Printer(Flow[Value, None]):
    """Prints every ``every``-th value it receives."""

    def __init__(self, every: int = 1) -> None:
        self.every = every

    def reset(self) -> None:
        self.k = 0

    def step(self, input: Value) -> None:
        self.k += 1
        if self.k % self.every == 0:
            print(f"    printer: {input.value}", flush=True)
