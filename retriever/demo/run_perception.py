"""Build and run the perception demo pipeline (used by ``retriever demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retriever.flow import Latest, Pipeline, Rate, Trigger

from .perception import Camera, ColorDetector, Display


def build(camera_mode: str = "auto", hz: float = 30.0, every: int = 15) -> Pipeline:
    """camera (Rate) -> detector (Trigger on image) -> display (Trigger on its fields)."""
    pipe = Pipeline("perception")
    camera = (Camera(mode=camera_mode) @ Rate(hz=hz, on_lag="drop")).named("camera")
    detector = (ColorDetector() @ Trigger("image", "index")).named("detector")
    # A Trigger samples only the fields it names, so name every field the display reads.
    display = (Display(every=every) @ Trigger("found", "x", "y", "area", "index")).named(
        "display")
    pipe.connect(camera, detector, sync=Latest())
    pipe.connect(detector, display, sync=Latest())
    return pipe


def run(*, camera_mode: str = "auto", backend: str = "multiprocessing",
        duration: float = 4.0, hz: float = 30.0, record: str | None = None,
        visualize: str = "auto", progress: bool = True) -> Any:
    """Run the demo and return its report.

    ``visualize``: ``auto`` streams to a Rerun viewer when one is listening (otherwise the
    terminal view), ``rerun`` insists on one, ``foxglove`` (or ``foxglove:PORT``) serves a
    Foxglove WebSocket, ``stdout`` is the terminal view only.
    """
    pipe = build(camera_mode, hz)
    print(f"perception demo: camera={camera_mode} backend={backend} duration={duration:g}s "
          f"visualize={visualize}", flush=True)
    if visualize.startswith("foxglove"):
        from retriever.record.fox_live import port_of

        print(f"Foxglove live view: in Foxglove, Open connection > Foxglove WebSocket > "
              f"ws://127.0.0.1:{port_of(visualize)}", flush=True)
    if record:
        from retriever.record import RecordConfig

        path = Path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        mirror = path.with_suffix(".mcap")
        steps = max(1, int(duration * hz))
        pipe.record(RecordConfig(path=str(path), mirrors=(str(mirror),)), steps=steps,
                    dt=1.0 / hz, visualize=None if visualize == "stdout" else visualize)
        print(f"recorded {steps} steps to {path} and {mirror}")
        print(f"replay with: retriever replay retriever.demo.run_perception:build {path} "
              "--flow camera")
        return None
    options: dict[str, Any] = {}
    if visualize != "stdout":
        options["visualize"] = visualize
    if progress:
        from retriever.cli.progress import run_with_progress

        return run_with_progress(lambda: pipe.run(backend=backend, duration=duration,
                                                  blocking=False, **options), interval=0.5)
    return pipe.run(backend=backend, duration=duration, blocking=False, **options).wait()
