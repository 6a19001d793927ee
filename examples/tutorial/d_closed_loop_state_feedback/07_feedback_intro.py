"""Closed-loop feedback in its simplest form: a room and a thermostat feeding each other.

The room (plant) publishes its temperature; the thermostat (controller) reads the latest
temperature and publishes a heater power; the room reads the latest power on its next
step. A cycle is an ordinary graph here: each edge samples with ``Latest()``, so every
flow sees the newest value the other one published (nothing, on the very first step).

Run: ``python -m examples.tutorial.d_closed_loop_state_feedback.07_feedback_intro``
(``--exec run --backend multiprocessing`` runs it in processes instead of stepping).
"""

from __future__ import annotations

import argparse

from retriever.flow import Flow, Latest, Pipeline, Rate, io


@io
class Temperature:
    """Room temperature in degrees Celsius."""

    celsius: float


@io
class Heater:
    """Heater power in kW (0 .. max_kw)."""

    kw: float


class Room(Flow[Heater, Temperature]):
    """First-order thermal model: heating raises, losses to the outside lower it."""

    def __init__(self, start: float = 15.0, outside: float = 5.0, dt: float = 0.1) -> None:
        self.start, self.outside, self.dt = start, outside, dt

    def reset(self) -> None:
        self.celsius = self.start

    def step(self, input: Heater) -> Temperature:
        kw = input.kw or 0.0  # nothing yet on the first step: heater off
        self.celsius += (2.0 * kw - 0.1 * (self.celsius - self.outside)) * self.dt
        return Temperature(celsius=self.celsius)


class Thermostat(Flow[Temperature, Heater]):
    """Proportional-integral control towards ``target``."""

    def __init__(self, target: float = 21.0, kp: float = 0.8, ki: float = 0.05,
                 max_kw: float = 3.0, dt: float = 0.1) -> None:
        self.target, self.kp, self.ki, self.max_kw, self.dt = target, kp, ki, max_kw, dt

    def reset(self) -> None:
        self.integral = 0.0

    def step(self, input: Temperature) -> Heater:
        if input.celsius is None:
            return Heater(kw=0.0)
        error = self.target - input.celsius
        self.integral += error * self.dt
        kw = self.kp * error + self.ki * self.integral
        return Heater(kw=min(max(kw, 0.0), self.max_kw))


def build(target: float = 21.0, hz: float = 10.0) -> Pipeline:
    """room <-> thermostat, both at ``hz``."""
    pipe = Pipeline("feedback-intro")
    room = (Room(dt=1.0 / hz) @ Rate(hz=hz)).named("room")
    thermostat = (Thermostat(target=target, dt=1.0 / hz) @ Rate(hz=hz)).named("thermostat")
    pipe.connect(room, thermostat, sync=Latest())
    pipe.connect(thermostat, room, sync=Latest())
    return pipe


def main(argv: list[str] | None = None) -> None:
    """Step the loop (or run it) and show the temperature settling."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--exec", choices=("step", "run"), default="step")
    parser.add_argument("--backend", default="multiprocessing")
    parser.add_argument("--steps", type=int, default=600, help="stepper steps (0.1 s each)")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds, with --exec run")
    parser.add_argument("--target", type=float, default=21.0)
    args = parser.parse_args(argv)
    pipe = build(args.target)
    if args.exec == "run":
        report = pipe.run(backend=args.backend, duration=args.duration)
        print(report.summary())
        return
    temp = float("nan")
    for i in range(args.steps):
        out = pipe.step(dt=0.1).outputs
        temp = out["room"].celsius
        if i % 100 == 0:
            print(f"t={i * 0.1:5.1f}s room={temp:5.2f} C heater={out['thermostat'].kw:.2f} kW")
    pipe.close_stepper()
    print(f"after {args.steps * 0.1:.0f} s: room at {temp:.1f} C "
          f"(target {args.target:.1f} C, off by {abs(temp - args.target):.2f})")


if __name__ == "__main__":
    main()
