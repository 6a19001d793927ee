"""The scaler worker wired into a pipeline with a counter source and a printer sink.

Run with ``python -m examples.worker_component.pipeline [--backend multiprocessing]``
from the repository root. A config file ``--live-config PATH`` is watched by the worker:
edit ``factor`` in it while the pipeline runs and the next outputs change.
"""

from __future__ import annotations

import argparse
from typing import Any

from retriever import Flow, Pipeline, Rate, Trigger, io
from retriever.worker import Stream, StreamBatch, as_flow


@io
class Number:
    """A number on port ``value``."""

    value: float


@io
class Labelled:
    """What the printer receives from the scaler."""

    scaled: Any
    label: Any


class Counter(Flow[None, Number]):
    """Publishes 1.0, 2.0, 3.0, ... once per tick."""

    def reset(self) -> None:
        """Start counting from 1."""
        self.n = 0

    def step(self, _: None) -> Number:
        """The next number."""
        self.n += 1
        return Number(value=float(self.n))


class Printer(Flow[Labelled, None]):
    """Prints every (label, scaled) pair it receives."""

    def step(self, inp: Labelled) -> None:
        """Print the new pairs."""
        scaled = inp.scaled if isinstance(inp.scaled, StreamBatch) else [inp.scaled]
        labels = inp.label if isinstance(inp.label, StreamBatch) else [inp.label]
        for s, lab in zip(scaled, labels, strict=False):
            print(f"{lab} -> {s}", flush=True)


def build(live_config: str | None = None) -> Pipeline:
    """The pipeline: counter -> scaler worker -> printer."""
    options: dict[str, Any] = {"config": {"factor": 3.0}}
    if live_config:
        options["config_file"] = live_config
    pipe = Pipeline("worker-example")
    src = pipe.add(Counter() @ Rate(hz=5))
    scaler = pipe.add(as_flow("examples.worker_component.worker:scale",
                              component="examples/worker_component/component.yml",
                              **options) @ Trigger("value"))
    sink = pipe.add(Printer() @ Trigger("scaled", "label"))
    pipe.connect(src, scaler, sync=Stream())
    pipe.connect(scaler, sink, sync=Stream())
    return pipe


def main() -> None:
    """Parse arguments and run the pipeline."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="multiprocessing")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--live-config", default=None)
    args = ap.parse_args()
    report = build(args.live_config).run(backend=args.backend, duration=args.duration)
    print(report)


if __name__ == "__main__":
    main()
