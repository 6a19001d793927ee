"""Event-driven replanning: a planner runs only when a new goal arrives (Trigger), a
tracker follows the latest plan at a fixed rate.

Run: ``python -m examples.tutorial.d_closed_loop_state_feedback.08_event_driven_replan``
"""

from __future__ import annotations

import numpy as np

from retriever.flow import Flow, Hold, Pipeline, Rate, Trigger, io
from retriever.flow.adapter import Chunking


@io
class Goal:
    """A target position."""

    target: float


@io
class Plan:
    """A chunk of waypoints, one per ``dt`` of the tracker."""

    waypoints: np.ndarray


@io
class Setpoint:
    """The waypoint to track now."""

    waypoints: float


class GoalSource(Flow[None, Goal]):
    """Publishes a new goal every ``every`` steps and nothing otherwise."""

    def __init__(self, every: int = 5) -> None:
        self.every = every

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Goal | None:
        self.k += 1
        if self.k % self.every == 1:
            return Goal(target=float(self.k))
        return None


class Planner(Flow[Goal, Plan]):
    """Plans a straight line of 10 waypoints to the goal (runs only on new goals)."""

    def reset(self) -> None:
        self.plans = 0

    def step(self, input: Goal) -> Plan:
        self.plans += 1
        print(f"    planner: replanning to {input.target}")
        return Plan(waypoints=np.linspace(0.0, input.target or 0.0, 10))


class Tracker(Flow[Setpoint, None]):
    """Reads the current waypoint of the latest plan."""

    def step(self, input: Setpoint) -> None:
        if input.waypoints is not None:
            print(f"    tracker: setpoint {float(input.waypoints):.2f}")


def build() -> Pipeline:
    """goals -> planner (Trigger) -> tracker (Rate, Chunking over the plan)."""
    pipe = Pipeline("replan")
    goals = GoalSource() @ Rate(hz=10)
    planner = Planner() @ Trigger("target")
    tracker = Tracker() @ Rate(hz=10)
    pipe.connect(goals, planner, sync=Hold())
    pipe.connect(planner, tracker, sync=Chunking(dt=0.1))
    return pipe


def main() -> None:
    """Step one second: two goals, two plans, ten tracked setpoints."""
    pipe = build()
    for _ in range(10):
        pipe.step(dt=0.1)
    pipe.close_stepper()


if __name__ == "__main__":
    main()
