"""Gymnasium's ``Pendulum-v1`` as a flow, and a swing-up controller for it.

Needs ``gymnasium`` (``pip install 'pyretriever[gym]'``); the environment is created in
``__lazy_init__``, so in the process that steps it.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np

from retriever.flow import Flow, io

GYM_HINT = "pip install 'pyretriever[gym]' (or: pip install gymnasium)"


def gymnasium_available() -> bool:
    """Whether ``gymnasium`` can be imported here."""
    return importlib.util.find_spec("gymnasium") is not None


@io
class PendulumState:
    """Angle from upright (rad, in [-pi, pi]), angular velocity, last reward, time."""

    theta: float
    theta_dot: float
    reward: float
    t: float


@io
class Torque:
    """Torque on the joint (the env clips it to [-2, 2])."""

    u: float


class PendulumEnv(Flow[Torque, PendulumState]):
    """Steps ``Pendulum-v1`` once per run with the latest torque."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __lazy_init__(self) -> None:
        try:
            import gymnasium
        except ImportError as exc:
            raise RuntimeError(f"--env pendulum needs gymnasium: {GYM_HINT}") from exc
        self.env: Any = gymnasium.make("Pendulum-v1")

    def reset(self) -> None:
        obs, _ = self.env.reset(seed=self.seed)
        self.obs = obs
        self.t = 0.0

    def step(self, input: Torque) -> PendulumState:
        u = 0.0 if input.u is None else float(input.u)
        self.obs, reward, _, truncated, _ = self.env.step(np.array([u], dtype=np.float32))
        if truncated:  # the env ends an episode after 200 steps: start another one
            self.obs, _ = self.env.reset()
        self.t += 0.05  # Pendulum-v1's own time step
        cos_t, sin_t, theta_dot = (float(v) for v in self.obs)
        return PendulumState(theta=math.atan2(sin_t, cos_t), theta_dot=theta_dot,
                             reward=float(reward), t=self.t)

    def finalize(self) -> None:
        self.env.close()


class SwingUp(Flow[PendulumState, Torque]):
    """Pumps energy until the pendulum is near upright, then balances it (PD)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def step(self, input: PendulumState) -> Torque:
        if input.theta is None:
            return Torque(u=0.0)
        theta, omega = input.theta, input.theta_dot or 0.0
        if abs(theta) < 0.6:
            u = -12.0 * theta - 2.5 * omega
        else:
            # Energy relative to resting upright (m = l = 1, g = 10): push with the swing.
            energy = 0.5 * omega**2 + 10.0 * (math.cos(theta) - 1.0)
            u = self.gain * -energy * (1.0 if omega >= 0 else -1.0)
        return Torque(u=float(np.clip(u, -2.0, 2.0)))
