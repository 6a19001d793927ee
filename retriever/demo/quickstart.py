"""A minimal pipeline: counter -> scaler -> printer, validated and stepped in-process."""

from __future__ import annotations

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io


@io
class Count:
    """A counter value."""

    value: int


@io
class Scaled:
    """A scaled value."""

    value: float


class Counter(Flow[None, Count]):
    """Counts up on every tick."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Count:
        self.n += 1
        return Count(value=self.n)


class Scale(Flow[Count, Scaled]):
    """Multiplies the count by ``factor``."""

    def __init__(self, factor: float = 0.5) -> None:
        self.factor = factor

    def step(self, input: Count) -> Scaled:
        return Scaled(value=(input.value or 0) * self.factor)


class Printer(Flow[Scaled, None]):
    """Prints what it receives."""

    def step(self, input: Scaled) -> None:
        print(f"  printer received {input.value}")


def build() -> Pipeline:
    """The demo pipeline."""
    pipe = Pipeline("quickstart")
    counter = Counter() @ Rate(hz=10)
    scale = Scale(factor=0.5) @ Trigger("value")
    printer = Printer() @ Trigger("value")
    pipe.connect(counter, scale, sync=Latest())
    pipe.connect(scale, printer, sync=Latest())
    return pipe


def main(steps: int = 5) -> int:
    """Validate the pipeline, print its IR summary and step it ``steps`` times."""
    pipe = build()
    ir = pipe.validate()
    print(f"pipeline {ir.name!r}: {len(ir.nodes)} flows, {len(ir.edges)} connections")
    for i in range(steps):
        result = pipe.step(dt=0.1)
        print(f"step {i} t={result.now:.1f}s ran {', '.join(result.executed)}")
    pipe.close_stepper()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
