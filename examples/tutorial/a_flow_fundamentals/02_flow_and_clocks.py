"""A flow, its clock, and what each clock samples.

Run: ``python -m examples.tutorial.a_flow_fundamentals.02_flow_and_clocks``
"""

from __future__ import annotations

from retriever.flow import Flow, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, io


@io
class Reading:
    """A sensor value."""

    value: float


@io
class Seen:
    """What a flow saw when it ran."""

    value: float


class Sensor(Flow[None, Reading]):
    """Produces 0.0, 1.0, 2.0, ..."""

    def reset(self) -> None:
        self.k = 0.0

    def step(self, _: None) -> Reading:
        self.k += 1.0
        return Reading(value=self.k - 1.0)


class Echo(Flow[Reading, None]):
    """Prints what it receives, under a label."""

    def __init__(self, label: str) -> None:
        self.label = label

    def step(self, input: Reading) -> None:
        print(f"    {self.label:<8} saw value={input.value}")


def build() -> Pipeline:
    """A sensor feeding one flow per clock kind."""
    pipe = Pipeline("clocks")
    sensor = Sensor() @ Rate(hz=10)
    for clock, label in ((Rate(hz=10), "rate"), (Tick(hz=10), "tick"),
                         (Trigger("value"), "trigger"),
                         (Hybrid(hz=10, trigger=["value"]), "hybrid")):
        pipe.connect(sensor, Echo(label) @ clock, sync=Latest())
    return pipe


def main() -> None:
    """Step three times; Tick samples nothing, so it sees None."""
    pipe = build()
    for _ in range(3):
        r = pipe.step(dt=0.1)
        print(f"t={r.now:.1f}: ran {', '.join(r.executed)}")
    pipe.close_stepper()


if __name__ == "__main__":
    main()
