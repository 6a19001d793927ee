"""Step the perception pipeline frame by frame with synthetic frames.

Run: ``python -m examples.tutorial.c_debug_and_replay.02_debug_perception_stepper --steps 5``
"""

from __future__ import annotations

import argparse

from retriever.demo.run_perception import build


def main(argv: list[str] | None = None) -> None:
    """Each step shows what the detector received and returned."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    pipe = build(camera_mode="mock", every=1000)
    for _ in range(args.steps):
        r = pipe.step(dt=1 / 30)
        frame = r.inputs["detector"]
        det = r.outputs["detector"]
        image, box = frame.image, det.box
        print(f"t={r.now:.3f} frame {frame.index} {image.width}x{image.height} "
              f"{image.encoding} -> found={det.found} at ({det.x:.0f}, {det.y:.0f}), box "
              f"{box.width:.0f}x{box.height:.0f} at ({box.x:.0f}, {box.y:.0f})")
    pipe.close_stepper()


if __name__ == "__main__":
    main()
