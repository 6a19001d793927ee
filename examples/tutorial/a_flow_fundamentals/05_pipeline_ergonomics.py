"""Notebook ergonomics: the default pipeline, ``retriever.connect`` and ``init``.

Run::

    python -m examples.tutorial.a_flow_fundamentals.05_pipeline_ergonomics \\
        --mode context --exec step
"""

from __future__ import annotations

import argparse

import retriever
from retriever.flow import Flow, Latest, Pipeline, Rate, io


@io
class SrcOut:
    """Source output."""

    value: int


@io
class AddOut:
    """Incremented value."""

    value: int


class Source(Flow[None, SrcOut]):
    """Always 1."""

    def step(self, _: None) -> SrcOut:
        return SrcOut(value=1)


class AddOne(Flow[SrcOut, AddOut]):
    """Adds one."""

    def step(self, input: SrcOut) -> AddOut:
        return AddOut(value=(input.value or 0) + 1)


def build(mode: str) -> Pipeline:
    """``context``: an explicit pipeline; ``default``: the notebook default pipeline."""
    if mode == "context":
        pipe = Pipeline("ergonomics")
        with pipe:
            a = Source() @ Rate(hz=10)
            b = AddOne() @ Rate(hz=10)
            retriever.connect(a, b, sync=Latest())  # respects the active pipeline
        return pipe
    retriever.reset_default_pipeline()
    retriever.init(default_sync=Latest())
    a = Source() @ Rate(hz=10)
    b = AddOne() @ Rate(hz=10)
    retriever.connect(a, b)  # sync comes from init(default_sync=...)
    return retriever.default_pipeline()


def main(argv: list[str] | None = None) -> None:
    """Build in the chosen mode and execute by stepping or running."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("context", "default"), default="context")
    parser.add_argument("--exec", choices=("step", "run"), default="step")
    parser.add_argument("--backend", default="in-process")
    parser.add_argument("--duration", type=float, default=0.5)
    args = parser.parse_args(argv)
    pipe = build(args.mode)
    if args.exec == "step":
        for _ in range(3):
            r = pipe.step(dt=0.1)
            print(f"t={r.now:.1f} add_one -> {r.outputs['add_one'].value}")
        pipe.close_stepper()
    else:
        report = pipe.run(backend=args.backend, duration=args.duration)
        print(report.summary())
    retriever.init(default_sync=None)


if __name__ == "__main__":
    main()
