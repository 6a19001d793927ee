"""Like 02, with a live camera (fails clearly when none can be read).

Run: ``python -m examples.tutorial.c_debug_and_replay.03_debug_perception_stepper_real_camera``
"""

from __future__ import annotations

import argparse

from retriever.contract.errors import FlowError
from retriever.demo.run_perception import build


def main(argv: list[str] | None = None) -> None:
    """Step a few frames from camera ``--camera-mode`` (live by default)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--camera-mode", default="live", choices=("live", "auto", "mock"))
    args = parser.parse_args(argv)
    pipe = build(camera_mode=args.camera_mode, every=1)
    try:
        for _ in range(args.steps):
            pipe.step(dt=1 / 30)
    except FlowError as err:
        print(f"camera unavailable: {err.message.splitlines()[0]}")
    finally:
        pipe.close_stepper()


if __name__ == "__main__":
    main()
