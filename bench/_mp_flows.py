"""The flows and small helpers that the multiprocessing benches share (``bench_mp.py``
and the benches built on it): stamped small messages, frames, loaned frames, and sinks
that keep their figures in memory and write them as JSON when finalized; and both
workers of a two-partition pipeline built in one process, for timing message stages."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from retriever.flow import Flow, Pipeline, io
from retriever.ir import build_execution
from retriever.ir.lower import lower
from retriever.rt.backends.multiprocessing.plan import make_plan
from retriever.rt.backends.multiprocessing.worker import Worker
from retriever.rt.transport import ControlLink, channel_pair, control_pair

# ---------------------------------------------------------------------- bench flows

@io
class Stamp:
    n: int
    stamp: float


@io
class Frame:
    image: np.ndarray
    n: int
    stamp: float


class _Collect:
    """Keeps figures in memory and writes them as JSON in finalize()."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.lat: list[float] = []
        self.seen: list[int] = []
        self.first: float | None = None

    def finalize(self) -> None:
        Path(self.path).write_text(json.dumps({"lat": self.lat, "seen": self.seen,
                                               "first": self.first}))


class StampSource(Flow[None, Stamp]):
    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Stamp:
        self.n += 1
        return Stamp(n=self.n, stamp=time.perf_counter())


class StampRelay(Flow[Stamp, Stamp]):
    def step(self, inp: Stamp) -> Stamp:
        return inp


class StampSink(_Collect, Flow[Stamp, None]):
    def step(self, inp: Stamp) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = time.monotonic()
            Path(self.path + ".first").write_text(repr(self.first))
        self.lat.append(now - inp.stamp)
        self.seen.append(inp.n)


class FrameSource(Flow[None, Frame]):
    def __init__(self, shape: list[int]) -> None:
        self.shape = tuple(shape)

    def reset(self) -> None:
        self.n = 0
        self.frame = np.random.default_rng(0).integers(0, 255, self.shape, dtype=np.uint8)

    def step(self, _: None) -> Frame:
        self.n += 1
        return Frame(image=self.frame, n=self.n, stamp=time.perf_counter())


class LoanFrameSource(Flow[None, Frame]):
    """Fills a loaned slot (``Flow.loan``) in place: the frame is never copied again.
    ``fill`` is ``copyto`` (np.copyto from a prepared frame) or ``cv2`` (cv2.cvtColor
    writing into the loan with ``dst=``)."""

    def __init__(self, shape: list[int], fill: str = "copyto") -> None:
        self.shape = tuple(shape)
        self.fill = fill

    def reset(self) -> None:
        self.n = 0
        self.frame = np.random.default_rng(0).integers(0, 255, self.shape, dtype=np.uint8)

    def step(self, _: None) -> Frame:
        self.n += 1
        img = self.loan("image", self.shape, np.uint8)
        if self.fill == "cv2":
            import cv2
            cv2.cvtColor(self.frame, cv2.COLOR_BGR2RGB, dst=img)
        else:
            np.copyto(img, self.frame)
        return Frame(image=img, n=self.n, stamp=time.perf_counter())


class FrameSink(_Collect, Flow[Frame, None]):
    def step(self, inp: Frame) -> None:
        self.lat.append(time.perf_counter() - inp.stamp)
        self.seen.append(inp.n)


class Ticks(_Collect, Flow[None, None]):
    def step(self, _: None) -> None:
        self.lat.append(time.monotonic())


# ---------------------------------------------------------------------- helpers

def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def us(x: float) -> str:
    return f"{x * 1e6:8.1f} µs"


def ms(x: float) -> str:
    return f"{x * 1e3:8.3f} ms"


def run_pipe(pipe: Pipeline, seconds: float, **options: Any) -> Any:
    return pipe.run(backend="multiprocessing", duration=seconds, **options)


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def workers_in_one_process(pipe: Pipeline, producer: str, consumer: str
                           ) -> tuple[Worker, Worker, Any]:
    """Both ends of a two-partition pipeline as :class:`Worker` objects in this process,
    wired by real channels, so that each stage of a message can be timed on its own:
    the worker holding ``producer``, the one holding ``consumer``, and the plan."""
    plan = make_plan(build_execution(lower(pipe)))
    ends = {ch.index: channel_pair() for ch in plan.channels}
    workers = {}
    for part in plan.partitions:
        socks = {}
        for ch in plan.channels:
            if ch.src == part:
                socks[ch.index] = ends[ch.index][0]
            if ch.dst == part:
                socks[ch.index] = ends[ch.index][1]
        _parent, child = control_pair()
        workers[part] = Worker(plan, part, ControlLink(child), socks, shm_slots=4)
    prod = next(w for w in workers.values() if producer in w.runtimes)
    cons = next(w for w in workers.values() if consumer in w.runtimes)
    for out, _ in prod.outs:
        out.poll()
    return prod, cons, plan
