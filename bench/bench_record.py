"""Recording overhead per step: small messages and 640x480x3 frames at 30 Hz.

Run: ``.venv/bin/python bench/bench_record.py [--steps N] [--repeats R] [--only
small|frames|paced]``. Every figure is printed beside the same pipeline stepped without
recording, the two run alternately in the same process. Goals: recording adds at most
15% per step for small messages, and keeps up with 640x480x3 frames at 30 Hz.

Sections:

- ``small``: a three-flow pipeline of scalars stepped as fast as possible. The per-step
  median, then the whole loop divided by the steps (every hand-over to the writer
  included), then ``close()`` (the writer finishing its backlog and the files: paid
  once) and the loop plus ``close()`` divided by the steps.
- ``frames``: a camera and a detector stepped as fast as possible. Here the writer
  process's throughput (rerun and MCAP encoding of the images) sets the pace.
- ``paced``: the same frame pipeline recorded to both files, inputs included, stepped
  at a real 30 Hz: every step must finish within its period, and ``close()`` shows
  whether the writer kept up (no backlog). Run twice: frames as bare ``np.ndarray``
  ports, and as ``Image`` (``bgr8``) ports, which the files write as
  ``foxglove.RawImage`` and a BGR ``rr.Image``.

By default the files are written by a forked writer process (``RecordConfig(writer=
"process")``): the stepping thread encodes each step once and hands the bytes over, so
the per-step figures are what recording costs the pipeline. The recorder is given the
stepper, as ``pipe.record`` does, so the writer rebuilds the scalar inputs it can rebuild
exactly (``retriever/record/derive.py``) instead of receiving them. ``--writer inline``
measures the files written on the stepping thread instead.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import pct, row

import retriever  # noqa: F401
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.record import RecordConfig
from retriever.record.offload import open_recorder
from retriever.rt.facade import stepper_for
from retriever.types.vision import Image


@io
class Reading:
    """A few small ports, like a sensor reading."""

    value: float
    count: int
    label: str


@io
class Frame:
    """One camera frame."""

    image: np.ndarray
    index: int


@io
class Summary:
    """What a cheap detector reports."""

    mean: float
    bright: int


class Sensor(Flow[None, Reading]):
    """Counts and produces a float."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Reading:
        self.k += 1
        return Reading(value=self.k * 0.5, count=self.k, label="ok")


class Filter(Flow[Reading, Reading]):
    """A small amount of Python work per step (a smoothing filter)."""

    def reset(self) -> None:
        self.avg = 0.0

    def step(self, r: Reading) -> Reading:
        self.avg = 0.9 * self.avg + 0.1 * float(r.value or 0.0)
        return Reading(value=self.avg, count=r.count, label=r.label)


class Sink(Flow[Reading, None]):
    """Keeps the last value."""

    def step(self, r: Reading) -> None:
        self.last = r.value


class Camera(Flow[None, Frame]):
    """640x480x3 frames (pre-generated, so the camera itself costs little)."""

    def reset(self) -> None:
        rng = np.random.default_rng(0)
        self.frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
        self.k = 0

    def step(self, _: None) -> Frame:
        self.k += 1
        return Frame(image=self.frames[self.k % 4], index=self.k)


@io
class ImageFrame:
    """One camera frame declared as an OpenCV (BGR) image."""

    image: Image
    index: int


class ImageCamera(Flow[None, ImageFrame]):
    """The same frames as :class:`Camera`, as ``Image`` (``bgr8``)."""

    def reset(self) -> None:
        rng = np.random.default_rng(0)
        self.frames = [Image.from_bgr(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
                                      "camera") for _ in range(4)]
        self.k = 0

    def step(self, _: None) -> ImageFrame:
        self.k += 1
        return ImageFrame(image=self.frames[self.k % 4], index=self.k)


class ImageDetector(Flow[ImageFrame, Summary]):
    """:class:`Detector` on the pixels of an ``Image``."""

    def step(self, f: ImageFrame) -> Summary:
        small = f.image.data[::8, ::8]
        return Summary(mean=float(small.mean()), bright=int((small > 250).sum()))


class Detector(Flow[Frame, Summary]):
    """A cheap detector: subsampled mean and a count of bright pixels."""

    def step(self, f: Frame) -> Summary:
        small = f.image[::8, ::8]
        return Summary(mean=float(small.mean()), bright=int((small > 250).sum()))


def small_pipeline() -> Pipeline:
    pipe = Pipeline("small")
    a, b, c = Sensor() @ Rate(hz=30), Filter() @ Trigger("value"), Sink() @ Trigger("value")
    pipe.connect(a, b, sync=Latest())
    pipe.connect(b, c, sync=Latest())
    return pipe


def frame_pipeline() -> Pipeline:
    pipe = Pipeline("frames")
    pipe.connect(Camera() @ Rate(hz=30), Detector() @ Trigger("image"), sync=Latest())
    return pipe


def image_pipeline() -> Pipeline:
    pipe = Pipeline("images")
    pipe.connect(ImageCamera() @ Rate(hz=30), ImageDetector() @ Trigger("image"),
                 sync=Latest())
    return pipe


class Session:
    """A pipeline's stepper, with a recorder attached when ``record`` is given."""

    def __init__(self, make: Callable[[], Pipeline], record: RecordConfig | None) -> None:
        self.pipe = make()
        self.stepper = stepper_for(self.pipe)
        self.record = record
        self.recorder = (open_recorder(self.stepper.ir, record, stepper=self.stepper)
                         if record else None)
        if self.recorder is not None:
            self.stepper.observers.append(self.recorder)

    def end(self) -> tuple[float, int]:
        """Close the recorder and the stepper, then delete the files: the seconds
        ``close()`` took and the bytes the files held.

        Each run starts from an empty directory: hundreds of MB of video left in the
        page cache would make the next runs wait for the disk's writeback instead."""
        t0 = time.perf_counter()
        if self.recorder is not None:
            self.recorder.close()
        closing = time.perf_counter() - t0
        self.pipe.close_stepper()
        written = 0
        for path in self.record.paths if self.record else []:
            written += Path(path).stat().st_size
            Path(path).unlink()
        return closing, written


def per_step(make: Callable[[], Pipeline], steps: int, record: RecordConfig | None,
             totals: list[float] | None = None, loops: list[float] | None = None,
             ends: list[float] | None = None) -> list[float]:
    """Seconds per step (each step timed, recorder included).

    ``loops`` gets the whole loop's time divided by the steps (every hand-over to the
    writer included); ``ends`` the time ``close()`` takes (the writer finishing what it
    was handed, then the files); ``totals`` both, divided by the steps.
    """
    session = Session(make, record)
    step = session.stepper.step
    times = []
    for _ in range(10):
        step(dt=1 / 30)  # warm up
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step(dt=1 / 30)
        times.append(time.perf_counter() - t0)
    loop = time.perf_counter() - start
    closing, _ = session.end()
    if totals is not None:
        totals.append((loop + closing) / steps)
    if loops is not None:
        loops.append(loop / steps)
    if ends is not None:
        ends.append(closing)
    return times


def paced(make: Callable[[], Pipeline], seconds: float,
          record: RecordConfig | None) -> tuple[list[float], float, int]:
    """Step at a real 30 Hz for ``seconds``: each step's time, how long ``close()``
    then takes (near zero when the writer kept up; its backlog otherwise) and the bytes
    written to the files."""
    session = Session(make, record)
    period = 1 / 30
    times = []
    start = next_at = time.perf_counter()
    while next_at - start < seconds:
        time.sleep(max(0.0, next_at - time.perf_counter()))
        t0 = time.perf_counter()
        session.stepper.step(dt=period)
        times.append(time.perf_counter() - t0)
        next_at += period
    closing, written = session.end()
    return times, closing, written


def paced_section(tmp: str, seconds: float, writer: str,
                  make: Callable[[], Pipeline] = frame_pipeline, what: str = "ndarray") -> None:
    """The frame pipeline recorded to both files, inputs included, at a real 30 Hz."""
    base, _, _ = paced(make, seconds, None)
    cfg = RecordConfig(path=Path(tmp) / "paced.rrd", mirrors=(Path(tmp) / "paced.mcap",),
                       writer=writer)
    got, closing, written = paced(make, seconds, cfg)
    late = sum(t >= 1 / 30 for t in got)
    row(f"640x480x3 {what} at a real 30 Hz: rrd+mcap", fmt(got), "no recording", fmt(base),
        f"{len(got)} steps, {late} took a whole period or more: "
        + ("keeps up" if not late else "does NOT keep up"))
    row("  close() after the last frame (writer backlog)", f"{closing * 1e3:8.1f} ms",
        "paid", "once")
    row("  written to the files", f"{written / seconds / 1e6:8.1f} MB/s", "frames",
        f"{len(got) / seconds:.0f}/s")


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e6:8.1f} / {pct(values, 0.99) * 1e6:8.1f} us"


CONFIGS = (("rrd", ["r.rrd"]), ("mcap", ["r.mcap"]), ("rrd+mcap", ["r.rrd", "r.mcap"]),
           ("rrd, outputs only", ["o.rrd"]), ("mcap, outputs only", ["o.mcap"]))


def section(label: str, make: Callable[[], Pipeline], steps: int, goal: float,
            repeats: int, tmp: str, writer: str) -> None:
    """Each file configuration against the same pipeline without recording; the two
    are run alternately (``repeats`` pairs), so that both see the same machine."""
    for what, paths in CONFIGS:
        base: list[float] = []
        base_loop: list[float] = []
        base_total: list[float] = []
        got: list[float] = []
        loop: list[float] = []
        total: list[float] = []
        end: list[float] = []
        for k in range(repeats):
            base += per_step(make, steps, None, base_total, base_loop)
            p = [Path(tmp) / f"{k}{n}" for n in paths]
            cfg = RecordConfig(path=p[0], mirrors=tuple(p[1:]),
                               inputs="outputs only" not in what, writer=writer)
            got += per_step(make, steps, cfg, total, loop, end)
        ratio = statistics.median(got) / statistics.median(base)
        verdict = f"x{ratio:.2f} per step"
        if goal:
            extra = (statistics.median(got) - statistics.median(base)) * 1e6
            verdict += (f", goal <= x{goal:.2f}: " + ("met" if ratio <= goal else "NOT met")
                        + f"; adds {extra:.1f} us")
        row(f"{label}: record {what}", fmt(got), "no recording", fmt(base), verdict)
        lm, lb = statistics.median(loop), statistics.median(base_loop)
        verdict = f"x{lm / lb:.2f}"
        if goal:
            verdict += f", goal <= x{goal:.2f}: " + ("met" if lm / lb <= goal else "NOT met")
        row("  whole loop / step (hand-overs included)", f"{lm * 1e6:8.1f} us",
            "no recording", f"{lb * 1e6:8.1f} us", verdict)
        row("  close(): writer finishes, files closed",
            f"{statistics.median(end) * 1e3:8.1f} ms", "paid", "once")
        mean, mean_base = statistics.median(total), statistics.median(base_total)
        row(f"  amortised over {steps} steps (loop + close)", f"{mean * 1e6:8.1f} us",
            "no recording", f"{mean_base * 1e6:8.1f} us", f"x{mean / mean_base:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--frame-steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paced-seconds", type=float, default=4.0)
    ap.add_argument("--writer", choices=("process", "inline"), default="process")
    ap.add_argument("--only", choices=("small", "frames", "paced"),
                    help="run one section (default: all)")
    args = ap.parse_args()
    print("per-step time, median / p99 of all steps over repeats (same-run baseline on the "
          "right)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "small"):
            section("small", small_pipeline, args.steps, 1.15, args.repeats, tmp,
                    args.writer)
        if args.only in (None, "frames"):
            # as fast as possible: the writer's throughput sets the pace here
            section("640x480x3 frames, unpaced", frame_pipeline, args.frame_steps, 0.0,
                    args.repeats, tmp, args.writer)
        if args.only in (None, "paced"):
            paced_section(tmp, args.paced_seconds, args.writer)
            paced_section(tmp, args.paced_seconds, args.writer, image_pipeline, "Image bgr8")


if __name__ == "__main__":
    main()
