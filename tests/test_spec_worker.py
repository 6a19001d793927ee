"""The worker API page's multi-output and config blocks, as flows on the stepper and on
the multiprocessing backend.

The multi-output component (input ``Image``; outputs ``BoundingBox``, ``Image``) uses the
real payload types of ``retriever.types.vision``. Completions: a camera flow feeding the
worker, a sink writing what it received, and the worker functions' bodies. The page's
other blocks (synchronous, stateful, virtual input/output, streaming) run as flows on
both backends in tests/test_worker_flow.py and locally in tests/test_worker_local.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.types.vision import BoundingBox, Image
from retriever.worker import as_flow, config

from .spec_support import BACKENDS, JsonSink, run_graph

MULTI_OUTPUT = yaml.safe_load("""
worker:
  input_type: Image
  output_types:
    - BoundingBox
    - Image
""")

CONFIGURED = yaml.safe_load("""
worker:
  input_type: Image
  output_type: Double
config_schema:
  threshold: {type: Double, default: 0.5}
  mean: {type: "(Double, Double, Double)", default: [0.25, 0.5, 0.75]}
  language: {type: String, default: en}
""")


@io
class Frame:
    input: Image


@io
class Seen:
    output_0: BoundingBox
    output_1: Image


@io
class Score:
    output: float


class Camera(Flow[None, Frame]):
    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Frame:
        self.n += 1
        pixels = np.zeros((4, 6, 3), np.uint8)
        pixels[1:3, 2:4, 2] = self.n  # a red patch (BGR), brighter each frame
        return Frame(input=Image.from_bgr(pixels))


class SeenSink(JsonSink, Flow[Seen, None]):
    pass


class ScoreSink(JsonSink, Flow[Score, None]):
    pass


def detect(image: Image) -> tuple[BoundingBox, Any]:
    """Box around the red pixels; returns the frame as a bare array (wrapped as bgr8)."""
    ys, xs = np.nonzero(image.data[..., 2])
    box = BoundingBox(x=float(xs.min()), y=float(ys.min()), width=float(np.ptp(xs) + 1),
                      height=float(np.ptp(ys) + 1), label="red")
    return box, image.data


def scored(image: Image) -> float:
    threshold = float(config.threshold)
    mean = tuple(config.mean)             # (Double, Double, Double) -> tuple of floats
    language = str(config.language)
    changed = config.sync()
    assert isinstance(changed, dict) and language == "en"
    return float(image.data.max()) * threshold + sum(mean)


def _multi(path: str) -> Pipeline:
    pipe = Pipeline("multi-output")
    camera = Camera() @ Rate(hz=10)
    worker = as_flow(detect, component=MULTI_OUTPUT) @ Trigger("input")
    sink = SeenSink(path) @ Trigger("output_0", "output_1")
    pipe.connect(camera, worker, sync=Latest())
    pipe.connect(worker, sink, sync=Latest())
    return pipe


def _configured(path: str) -> Pipeline:
    pipe = Pipeline("configured")
    worker = as_flow(scored, component=CONFIGURED, config={"threshold": 2.0}) @ Trigger("input")
    pipe.connect(Camera() @ Rate(hz=10), worker, sync=Latest())
    pipe.connect(worker, ScoreSink(path) @ Trigger("output"), sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_output_image_and_bounding_box(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_multi, backend, tmp_path, steps=3, duration=0.8)
    assert len(seen) >= 2
    frames = []
    for line in seen:
        box, image = line["output_0"], line["output_1"]
        assert (box["x"], box["y"], box["width"], box["height"], box["label"]) == (
            2.0, 1.0, 2.0, 2.0, "red")
        assert image["encoding"] == "bgr8"
        frames.append(image["data"][1][2][2])  # the frame number the camera painted
    assert frames[0] == 1 and frames == sorted(set(frames))


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_values_arrive_converted(backend: str, tmp_path: Path) -> None:
    seen = run_graph(_configured, backend, tmp_path, steps=2, duration=0.8)
    # max pixel (frame n) * threshold 2.0 (overridden) + 0.25 + 0.5 + 0.75
    frames = [(line["output"] - 1.5) / 2.0 for line in seen]
    assert frames and frames[0] == 1.0 and all(f == int(f) for f in frames)
    assert frames == sorted(set(frames))
