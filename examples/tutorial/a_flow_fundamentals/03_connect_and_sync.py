"""Connections: port maps, per-port sync policies and edge configuration.

Run: ``python -m examples.tutorial.a_flow_fundamentals.03_connect_and_sync``
"""

from __future__ import annotations

from retriever.flow import EdgeConfig, Flow, Hold, Latest, Pipeline, Rate, io


@io
class Status:
    """A fast signal and a slow flag."""

    speed: float
    alarm: bool


@io
class Controls:
    """What the controller reads (ports named differently)."""

    velocity: float
    alarm: bool


class Robot(Flow[None, Status]):
    """Speeds up; raises the alarm every fifth step."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Status:
        self.k += 1
        return Status(speed=0.5 * self.k, alarm=self.k % 5 == 0)


class Controller(Flow[Controls, None]):
    """Prints what it samples."""

    def step(self, input: Controls) -> None:
        print(f"    velocity={input.velocity} alarm={input.alarm}")


def build() -> Pipeline:
    """``speed`` feeds ``velocity`` through a map; ``alarm`` is held with a debounce."""
    pipe = Pipeline("connect")
    robot = Robot() @ Rate(hz=10)
    ctrl = Controller() @ Rate(hz=10)
    pipe.connect(
        robot, ctrl,
        map={"speed": "velocity", "alarm": "alarm"},
        sync={"speed": Latest(), "alarm": Hold(debounce=0.3)},
        edge_config={"*": EdgeConfig(qsize=8), "speed": EdgeConfig(qsize=2)},
    )
    return pipe


def main() -> None:
    """Validate, print the per-port policies of the IR, and step."""
    pipe = build()
    for port in pipe.validate().edges[0].ports:
        print(f"{port.src_port} -> {port.dst_port}: {port.adapter.name} qsize={port.qsize}")
    for _ in range(6):
        pipe.step(dt=0.1)
    pipe.close_stepper()


if __name__ == "__main__":
    main()
