"""Run one pipeline on each backend, blocking and non-blocking.

Run: ``python -m examples.tutorial.b_ir_and_execution.02_run_backends --backend multiprocessing``
"""

from __future__ import annotations

import argparse
import time

from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.rt import RunHandle, RunReport, execute_ir

from .shared import Counter, Printer, Scale


def build() -> Pipeline:
    """counter (50 Hz) -> scale (on arrival) -> printer (every 25th value)."""
    pipe = Pipeline("backends")
    counter = Counter() @ Rate(hz=50)
    scale = Scale(factor=2.0) @ Trigger("value")
    printer = Printer(every=25) @ Trigger("value")
    pipe.connect(counter, scale, sync=Latest())
    pipe.connect(scale, printer, sync=Latest())
    return pipe


def main(argv: list[str] | None = None) -> None:
    """A blocking run, then a non-blocking one stopped by hand, then execute_ir on the IR."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="in-process",
                        help="in-process, multiprocessing or dora")
    parser.add_argument("--duration", type=float, default=1.0)
    args = parser.parse_args(argv)
    report = build().run(backend=args.backend, duration=args.duration)
    print("blocking run:\n" + report.summary())
    handle: RunHandle = build().run(backend=args.backend, blocking=False)
    time.sleep(args.duration / 2)
    print(f"non-blocking run is running: {handle.running}")
    print("stopped:\n" + handle.stop().summary())
    ir = build().validate()
    final = execute_ir(ir, backend=args.backend, duration=args.duration / 2)
    assert isinstance(final, RunReport)
    print("execute_ir:\n" + final.summary())


if __name__ == "__main__":
    main()
