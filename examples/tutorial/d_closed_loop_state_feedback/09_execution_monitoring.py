"""Execution monitoring: watch another flow's outputs over a window and raise an alarm.

Run: ``python -m examples.tutorial.d_closed_loop_state_feedback.09_execution_monitoring``
"""

from __future__ import annotations

from retriever.flow import Events, Flow, Latest, Pipeline, Rate, Trigger, Window, io

from .toy import MPC, ToyEnv


@io
class Watch:
    """Inputs of the monitor: the mean |x| and recent commands."""

    x: float
    u: list[tuple[float, float]]


@io
class Alarm:
    """Raised when the cart is not converging."""

    message: str


class Monitor(Flow[Watch, Alarm]):
    """Alarm when the mean position over the window stays above ``limit``."""

    def __init__(self, limit: float = 0.5) -> None:
        self.limit = limit

    def step(self, input: Watch) -> Alarm | None:
        n = len(input.u or [])
        if input.x is not None and abs(input.x) > self.limit:
            return Alarm(message=f"mean x {input.x:.2f} > {self.limit} ({n} commands)")
        return None


class Log(Flow[Alarm, None]):
    """Prints alarms."""

    def step(self, input: Alarm) -> None:
        print(f"    ALARM: {input.message}")


def build() -> Pipeline:
    """The closed loop plus a monitor and an alarm log."""
    pipe = Pipeline("monitoring")
    env = ToyEnv(hz=20) @ Rate(hz=20)
    mpc = MPC() @ Rate(hz=20)
    monitor = Monitor() @ Rate(hz=5)
    log = Log() @ Trigger("message")
    pipe.connect(env, mpc, sync=Latest())
    pipe.connect(mpc, env, sync=Latest())
    pipe.connect(env, monitor, map={"x": "x"}, sync=Window(duration=0.5, agg="mean"))
    pipe.connect(mpc, monitor, map={"u": "u"}, sync=Events(duration=0.5))
    pipe.connect(monitor, log, sync=Latest())
    return pipe


def main() -> None:
    """Step two seconds of simulated time; alarms stop once the cart settles."""
    pipe = build()
    alarms = 0
    for _ in range(40):
        r = pipe.step(dt=0.05)
        alarms += "log" in r.executed
    pipe.close_stepper()
    print(f"{alarms} alarm(s) in 2 s")


if __name__ == "__main__":
    main()
