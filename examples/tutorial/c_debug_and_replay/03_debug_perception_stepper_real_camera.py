"""Like 02, with a live camera (says so clearly when none can be read).

Run: ``python -m examples.tutorial.c_debug_and_replay.03_debug_perception_stepper_real_camera``

``--camera-mode mock`` steps synthetic frames instead. ``--visualize auto`` also shows
every step in a Rerun viewer when one is listening (``rerun`` warns when none is);
``stdout`` prints only.
"""

from __future__ import annotations

import argparse

from retriever.contract.errors import FlowError
from retriever.demo.run_perception import build

HZ = 30.0


def main(argv: list[str] | None = None) -> None:
    """Step frames from camera ``--camera-mode`` (live by default)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=None,
                        help="frames to step (default: --duration x 30)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of frames")
    parser.add_argument("--camera-mode", default="live", choices=("live", "auto", "mock"))
    parser.add_argument("--visualize", default="stdout", choices=("auto", "rerun", "stdout"))
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else max(1, int(args.duration * HZ))
    live = None
    if args.visualize != "stdout":
        from retriever.record.live import live_for

        live = live_for(args.visualize, app_id="webcam-detection")
    pipe = build(camera_mode=args.camera_mode, every=1)
    try:
        for i in range(steps):
            result = pipe.step(dt=1 / HZ)
            if live is not None:
                for flow, message in result.messages.items():
                    live.log_message(flow, "out", message, step=i, now=result.now)
    except FlowError as err:
        print(f"camera unavailable: {err.message.splitlines()[0]}")
    finally:
        pipe.close_stepper()
        if live is not None:
            live.close()


if __name__ == "__main__":
    main()
