"""Windowed statistics over detections with ``Window`` and ``Events`` adapters.

Run: ``python -m examples.tutorial.b_ir_and_execution.08_detection_window_stats``
"""

from __future__ import annotations

from typing import Any

from retriever.demo.perception import Camera, ColorDetector
from retriever.flow import Events, Flow, Latest, Pipeline, Rate, Trigger, Window, io


@io
class Area:
    """The detected area alone."""

    area: float


@io
class Stats:
    """Mean area over the window and the number of detections seen in it."""

    mean_area: float
    count: int


@io
class StatsIn:
    """Inputs of the statistics flow: a windowed mean and the raw events."""

    area: float
    events: list[Any]


class Stat(Flow[StatsIn, Stats]):
    """Combines the mean (from ``Window``) and the event count (from ``Events``)."""

    def step(self, input: StatsIn) -> Stats:
        return Stats(mean_area=input.area or 0.0, count=len(input.events or []))


def build() -> Pipeline:
    """camera -> detector -> stats (mean area and count over the last 0.5 s)."""
    pipe = Pipeline("window-stats")
    cam = Camera(mode="mock") @ Rate(hz=20)
    det = ColorDetector() @ Trigger("image", "index")
    stats = Stat() @ Rate(hz=4)
    pipe.connect(cam, det, sync=Latest())
    pipe.connect(det, stats, map={"area": "area"}, sync=Window(duration=0.5, agg="mean"))
    pipe.connect(det, stats, map={"index": "events"}, sync=Events(duration=0.5))
    return pipe


def main() -> None:
    """Step the stats flow with 20 Hz detections."""
    pipe = build()
    for i in range(10):
        r = pipe.step(dt=0.05)
        if "stat" in r.outputs and i % 2 == 1:
            s = r.outputs["stat"]
            print(f"t={r.now:.2f}s mean area {s.mean_area:.0f} px over {s.count} detections")
    pipe.close_stepper()


if __name__ == "__main__":
    main()
