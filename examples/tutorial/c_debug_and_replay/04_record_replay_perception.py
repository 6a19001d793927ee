"""Record the perception pipeline, then replay the camera from the .rrd or the .mcap file.

Recording uses synthetic (mock) camera frames by default, so the files are the same on
every machine and the replay pair is portable. Replay substitutes the camera's recorded
frames in the stepper: the detector and display run again on exactly what was recorded.

Run:
``python -m examples.tutorial.c_debug_and_replay.04_record_replay_perception`` (both),
``... --mode record``, ``... --mode replay --source rrd`` or ``--source mcap``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

from retriever.demo.run_perception import build
from retriever.record import RecordConfig, open_recording

DEFAULT_PATH = "recordings/perception.rrd"
DT = 1 / 30


def record(path: Path, steps: int, camera_mode: str) -> None:
    """Record ``steps`` steps to ``path`` (.rrd) with an .mcap mirror."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pipe = build(camera_mode=camera_mode, every=1000)
    pipe.record(RecordConfig(path=str(path), mirrors=(str(path.with_suffix(".mcap")),)),
                steps=steps, dt=DT, visualize=None)
    print(f"recorded {steps} steps ({camera_mode} camera) to {path} and "
          f"{path.with_suffix('.mcap')}")


def recorded_detections(path: Path) -> list[str]:
    """What the detector published while the recording was made (read from the file)."""
    rec = open_recording(path)
    return [_detection(SimpleNamespace(**msg)) for _, _, msg in rec.messages("detector")]


def replay(path: Path) -> list[str]:
    """Replay the camera from ``path`` (.rrd or .mcap) until the recording runs out;
    returns the detections made on the replayed frames."""
    pipe = build(camera_mode="mock", every=1000)
    source = pipe.replay(pipe.node("camera"), path=path)
    seen = []
    while not source.exhausted:
        seen.append(_detection(pipe.step(dt=DT).outputs.get("detector")))
    pipe.close_stepper()
    found = sum(s.startswith("red") for s in seen)
    print(f"replayed {source.served} camera frames from {path.name}: "
          f"red object in {found} of {len(seen)}")
    if seen:
        print(f"  last: {seen[-1]}")
    return seen


def _detection(det: object) -> str:
    if det is None or not getattr(det, "found", False):
        return "nothing"
    return f"red object at ({det.x:.0f}, {det.y:.0f})"  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    """Record and/or replay (see the module docstring)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("record", "replay", "both"), default="both")
    parser.add_argument("--source", choices=("rrd", "mcap"), default="rrd",
                        help="which file of the recording to replay")
    parser.add_argument("--path", default=DEFAULT_PATH, help="the .rrd file (.mcap beside)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--camera-mode", choices=("mock", "auto", "live"), default="mock",
                        help="camera used while recording (mock: deterministic frames)")
    args = parser.parse_args(argv)
    path = Path(args.path).with_suffix(".rrd")
    if args.mode in ("record", "both"):
        record(path, args.steps, args.camera_mode)
    if args.mode in ("replay", "both"):
        sources = ("rrd", "mcap") if args.mode == "both" else (args.source,)
        for kind in sources:
            file = path.with_suffix("." + kind)
            if not file.is_file():
                parser.exit(2, f"no recording at {file}; run with --mode record first\n")
            replayed = replay(file)
            same = replayed == recorded_detections(file)
            print(f"  detections on the replayed frames match the recorded ones: {same}")
            if not same:
                parser.exit(1, f"replay from {file} diverged from the recording\n")


if __name__ == "__main__":
    main()
