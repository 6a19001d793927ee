"""A toy plant (a 1-D cart) and a short-horizon MPC-style controller."""

from __future__ import annotations

import time

import numpy as np

from retriever.flow import Flow, io


@io
class State:
    """Cart position and velocity."""

    x: float
    v: float
    t: float


@io
class Command:
    """Force applied to the cart."""

    u: float


class ToyEnv(Flow[Command, State]):
    """Integrates x'' = u with friction at its own rate (explicit Euler)."""

    def __init__(self, hz: float = 50.0) -> None:
        self.dt = 1.0 / hz

    def reset(self) -> None:
        self.x, self.v, self.t = 1.0, 0.0, 0.0

    def step(self, input: Command) -> State:
        u = input.u or 0.0
        self.v += (u - 0.5 * self.v) * self.dt
        self.x += self.v * self.dt
        self.t += self.dt
        return State(x=self.x, v=self.v, t=self.t)


class MPC(Flow[State, Command]):
    """Chooses u minimising a quadratic cost over a short horizon by sampling.

    ``work_s`` adds artificial computation time to show lag policies.
    """

    def __init__(self, horizon: int = 10, dt: float = 0.05, work_s: float = 0.0) -> None:
        self.horizon = horizon
        self.dt = dt
        self.work_s = work_s
        self.candidates = np.linspace(-2.0, 2.0, 41)

    def step(self, input: State) -> Command:
        if self.work_s:
            time.sleep(self.work_s)
        if input.x is None:
            return Command(u=0.0)
        x = np.full_like(self.candidates, input.x)
        v = np.full_like(self.candidates, input.v or 0.0)
        cost = np.zeros_like(self.candidates)
        for _ in range(self.horizon):
            v = v + (self.candidates - 0.5 * v) * self.dt
            x = x + v * self.dt
            cost += x**2 + 0.1 * v**2 + 0.01 * self.candidates**2
        return Command(u=float(self.candidates[int(np.argmin(cost))]))
