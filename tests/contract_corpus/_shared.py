"""Envelopes and flows shared by the corpus programs (not a program itself)."""
from __future__ import annotations

import numpy as np

from retriever.flow import Flow, io


@io
class Reading:
    value: float
    stamp: float


@io
class Command:
    action: float


@io
class Count:
    value: int


@io
class Label:
    text: str


@io
class Imu:
    stamp: float
    x: float
    y: float


@io
class Pose:
    x: float
    y: float
    theta: float


@io
class Frame:
    pixels: np.ndarray
    stamp: float


@io
class History:
    value: list[tuple[float, float]]


@io
class Plan:
    steps: list[float]


@io
class Setpoint:
    steps: float


class Sensor(Flow[None, Reading]):
    def step(self, input: None) -> Reading:
        return Reading(value=1.0, stamp=0.0)


class Controller(Flow[Reading, Command]):
    def step(self, input: Reading) -> Command:
        return Command(action=input.value)


class Actuator(Flow[Command, None]):
    def step(self, input: Command) -> None:
        return None


class Counter(Flow[None, Count]):
    def step(self, input: None) -> Count:
        return Count(value=1)


class CountSink(Flow[Count, None]):
    def step(self, input: Count) -> None:
        return None


class LabelSink(Flow[Label, None]):
    def step(self, input: Label) -> None:
        return None


class ImuSource(Flow[None, Imu]):
    def step(self, input: None) -> Imu:
        return Imu(stamp=0.0, x=0.0, y=0.0)


class PoseSource(Flow[None, Pose]):
    def step(self, input: None) -> Pose:
        return Pose(x=0.0, y=0.0, theta=0.0)


class Camera(Flow[None, Frame]):
    def step(self, input: None) -> Frame:
        return Frame(pixels=np.zeros((2, 2)), stamp=0.0)


class Fuse(Flow[tuple[Imu, Pose], Command]):
    def step(self, input: tuple[Imu, Pose]) -> Command:
        return Command(action=input.Pose.theta)


class Smoother(Flow[History, None]):
    def step(self, input: History) -> None:
        return None


class Planner(Flow[None, Plan]):
    def step(self, input: None) -> Plan:
        return Plan(steps=[0.0, 1.0])


class Tracker(Flow[Setpoint, None]):
    def step(self, input: Setpoint) -> None:
        return None
