"""Scoped wiring: ``with pipe:`` plus ``a >> b`` and ``a.then(b, sync=...)``.

Run: ``python -m examples.tutorial.a_flow_fundamentals.04_with_pipe_and_rshift``
"""

from __future__ import annotations

from retriever.flow import Flow, Pipeline, Rate, Trigger, Window, io


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
    """Multiplies by a factor."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def step(self, input: Value) -> Value:
        return Value(value=(input.value or 0.0) * self.factor)


class Show(Flow[Value, None]):
    """Prints."""

    def step(self, input: Value) -> None:
        print(f"    show: {input.value}")


def build() -> Pipeline:
    """``>>`` samples with the pipeline's default sync, else ``Latest()``; ``then`` can
    pass its own."""
    pipe = Pipeline("scoped")
    with pipe:
        counter = Counter() @ Rate(hz=10)
        double = Scale(2.0) @ Trigger("value")
        counter >> double
    show = Show() @ Rate(hz=10)
    # The handle remembers its pipeline (double.pipeline is pipe), so wiring goes on.
    double.then(show, sync=Window(duration=0.25, agg="mean"))
    return pipe


def main() -> None:
    """Step a few times."""
    pipe = build()
    for _ in range(4):
        pipe.step(dt=0.1)
    pipe.close_stepper()


if __name__ == "__main__":
    main()
