"""Closed loop: a 50 Hz plant and a controller at another rate, with a lag policy.

Run::

    python -m examples.tutorial.d_closed_loop_state_feedback.01_closed_loop_env \\
        --env toy --backend multiprocessing --hz 10 --duration 3

``--slow`` makes the controller take longer than its period so ``--on-lag`` shows its
effect: ``warn``/``drop`` skip ticks, ``catch_up`` runs them all late, ``error`` (also
``panic``) stops the run with an error naming the controller.

``--env pendulum`` closes the loop around gymnasium's ``Pendulum-v1`` (a swing-up
controller instead of the MPC); it needs ``pip install 'pyretriever[gym]'``.
"""

from __future__ import annotations

import argparse

from retriever.contract.errors import FlowError
from retriever.flow import Latest, Pipeline, Rate

from .pendulum import GYM_HINT, PendulumEnv, SwingUp, gymnasium_available
from .toy import MPC, ToyEnv


def build(hz: float = 10.0, on_lag: str = "warn", slow: bool = False,
          env_hz: float = 50.0, env: str = "toy") -> Pipeline:
    """env (plant) <-> mpc (controller) in a loop."""
    if slow:
        hz = max(hz, 20.0)  # a period the slow controller cannot keep
    pipe = Pipeline("closed-loop")
    if env == "pendulum":
        plant = (PendulumEnv() @ Rate(hz=env_hz)).named("env")
        control = (SwingUp() @ Rate(hz=hz, on_lag=on_lag)).named("mpc")
    else:
        plant = (ToyEnv(hz=env_hz) @ Rate(hz=env_hz)).named("env")
        control = (MPC(work_s=2.5 / hz if slow else 0.0) @ Rate(hz=hz, on_lag=on_lag)
                   ).named("mpc")
    pipe.connect(plant, control, sync=Latest())
    pipe.connect(control, plant, sync=Latest())
    return pipe


def main(argv: list[str] | None = None) -> None:
    """Run the loop and print how the controller kept up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="toy", choices=("toy", "pendulum"))
    parser.add_argument("--backend", default="in-process")
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--on-lag", default="warn")
    parser.add_argument("--slow", action="store_true")
    args = parser.parse_args(argv)
    if args.env == "pendulum" and not gymnasium_available():
        parser.exit(2, f"--env pendulum needs gymnasium, which is not installed: {GYM_HINT}\n")
    pipe = build(args.hz, args.on_lag, args.slow, env=args.env)
    try:
        report = pipe.run(backend=args.backend, duration=args.duration)
    except FlowError as err:
        print(f"run stopped by flow {err.flow!r}: {err.message.splitlines()[0]}")
        return
    mpc = report.flows["mpc"]
    print(f"env={args.env} on_lag={args.on_lag}: mpc steps={mpc.steps} lag events={mpc.lag_events} "
          f"skipped ticks={mpc.skipped_ticks}")
    print(report.summary())


if __name__ == "__main__":
    main()
