"""Flows and helpers shared by the recording tests (module level, so IR can name them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retriever.contract.envelope import envelope_ports
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io


@dataclass
class Pose:
    x: float
    y: float
    label: str


@io
class Everything:
    i: int
    f: float
    s: str
    b: bool
    nothing: int
    lst: list[int]
    dct: dict[str, float]
    tup: tuple[int, str]
    pose: Pose
    f64: np.ndarray
    f32: np.ndarray
    i16: np.ndarray
    be32: np.ndarray
    flags: np.ndarray
    empty: np.ndarray
    scalar0d: np.ndarray
    rgb: np.ndarray
    gray: np.ndarray
    special: float


def everything(k: int) -> Everything:
    """The value of every payload kind at step ``k`` (changes with ``k``)."""
    rng = np.random.default_rng(k)
    return Everything(
        i=k * 7 - 3, f=0.1 * k + 1e-300, s=f"step {k} — ünïcode", b=k % 2 == 0, nothing=None,  # type: ignore[arg-type]
        lst=[k, k + 1, -k], dct={"a": k / 3, "b": -1.5}, tup=(k, "t"),
        pose=Pose(x=k + 0.25, y=-k / 7, label=f"p{k}"),
        f64=rng.standard_normal((2, 3)), f32=rng.standard_normal(5).astype(np.float32),
        i16=(rng.integers(-300, 300, (2, 2, 2))).astype(np.int16),
        be32=np.arange(k, k + 4, dtype=">i4"),
        flags=np.array([True, False, k % 2 == 1]),
        empty=np.zeros((0, 3), dtype=np.float64),
        scalar0d=np.array(k * 1.5, dtype=np.float64),
        rgb=rng.integers(0, 256, (6, 8, 3), dtype=np.uint8),
        gray=rng.integers(0, 256, (5, 4), dtype=np.uint8).T,  # not C-contiguous
        special=[float("nan"), float("inf"), -0.0][k % 3],
    )


class Emit(Flow[None, Everything]):
    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Everything:
        out = everything(self.k)
        self.k += 1
        return out


class Keep(Flow[Everything, None]):
    def __init__(self) -> None:
        self.seen: list[Everything] = []

    def step(self, inp: Everything) -> None:
        self.seen.append(inp)


def emit_pipeline() -> tuple[Pipeline, Any, Any]:
    pipe = Pipeline("payloads")
    src = Emit() @ Rate(hz=10)
    sink = Keep() @ Trigger(*envelope_ports(Everything))
    pipe.connect(src, sink, sync=Latest())
    return pipe, src, sink


def same(a: Any, b: Any) -> bool:
    """Exact equality: arrays by dtype, shape and bytes; floats by bits (NaN, -0.0)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.ascontiguousarray(a).tobytes()
                == np.ascontiguousarray(b).tobytes())
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.float64(a).tobytes() == np.float64(b).tobytes())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return type(a) is type(b) and bool(a == b)


def ports_of(env: Any) -> dict[str, Any]:
    """The ``{port: value}`` of an envelope, ports holding None left out."""
    return {k: v for k, v in vars(env).items() if v is not None}


# --------------------------------------------------------------------- perception


@io
class Frame:
    image: np.ndarray
    index: int


@io
class Detections:
    boxes: np.ndarray
    scores: np.ndarray
    count: int
    mean_rgb: list[float]


@io
class Track:
    centre: tuple[float, float]
    hits: int


class SyntheticCamera(Flow[None, Frame]):
    """640x480 frames with a bright square that moves (deterministic from a seed)."""

    def __init__(self, seed: int = 1, height: int = 96, width: int = 128) -> None:
        self.seed, self.h, self.w = seed, height, width

    def reset(self) -> None:
        self.k = 0
        self.rng = np.random.default_rng(self.seed)

    def step(self, _: None) -> Frame:
        img = self.rng.integers(0, 60, (self.h, self.w, 3), dtype=np.uint8)
        y, x = (5 + 3 * self.k) % (self.h - 20), (7 + 5 * self.k) % (self.w - 20)
        img[y:y + 16, x:x + 16] = 250
        out = Frame(image=img, index=self.k)
        self.k += 1
        return out


class BrokenCamera(SyntheticCamera):
    """A camera whose device is absent: starting it fails (replay must not start it)."""

    def __lazy_init__(self) -> None:
        raise RuntimeError("no camera attached")


class Detector(Flow[Frame, Detections]):
    def step(self, f: Frame) -> Detections:
        mask = f.image.min(axis=2) > 200
        ys, xs = np.nonzero(mask)
        if len(ys):
            boxes = np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], dtype=np.int32)
            scores = np.array([mask.mean() * 100], dtype=np.float32)
        else:
            boxes, scores = np.zeros((0, 4), np.int32), np.zeros(0, np.float32)
        mean = [float(c) for c in f.image.reshape(-1, 3).mean(axis=0)]
        return Detections(boxes=boxes, scores=scores, count=len(boxes), mean_rgb=mean)


class Tracker(Flow[Detections, Track]):
    def reset(self) -> None:
        self.hits = 0
        self.centre = (0.0, 0.0)

    def step(self, d: Detections) -> Track:
        if d.count:
            b = d.boxes[0].astype(np.float64)
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            self.centre = (0.7 * self.centre[0] + 0.3 * cx, 0.7 * self.centre[1] + 0.3 * cy)
            self.hits += 1
        return Track(centre=self.centre, hits=self.hits)


class TrackLog(Flow[Track, None]):
    def __init__(self) -> None:
        self.seen: list[tuple[tuple[float, float], int]] = []

    def step(self, t: Track) -> None:
        self.seen.append((t.centre, t.hits))


def perception(camera: Flow[None, Frame] | None = None) -> tuple[Pipeline, dict[str, Any]]:
    pipe = Pipeline("perception")
    cam = (camera or SyntheticCamera()) @ Rate(hz=30)
    det = Detector() @ Trigger("image")
    trk = Tracker() @ Trigger("boxes", "count")
    log = TrackLog() @ Trigger("centre", "hits")
    pipe.connect(cam.named("camera"), det.named("detector"), sync=Latest())
    pipe.connect(det, trk.named("tracker"), sync=Latest())
    pipe.connect(trk, log.named("log"), sync=Latest())
    return pipe, {"camera": cam, "detector": det, "tracker": trk, "log": log}


def both(tmp: Path, stem: str = "run") -> list[Path]:
    return [tmp / f"{stem}.rrd", tmp / f"{stem}.mcap"]
