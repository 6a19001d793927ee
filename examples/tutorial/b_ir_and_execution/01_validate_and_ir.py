"""Validate a pipeline, inspect and save its IR, and build the execution graph.

Run: ``python -m examples.tutorial.b_ir_and_execution.01_validate_and_ir --out /tmp/ir.json``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.ir import IR

from .shared import Counter, Printer, Scale


def build() -> Pipeline:
    """counter -> scale -> printer, with the printer placed on another machine."""
    pipe = Pipeline("ir-demo")
    counter = Counter() @ Rate(hz=20)
    scale = Scale(factor=3.0) @ Trigger("value")
    printer = (Printer() @ Trigger("value")).deploy(machine="display-host")
    pipe.connect(counter, scale, sync=Latest())
    pipe.connect(scale, printer, sync=Latest())
    return pipe


def main(argv: list[str] | None = None) -> None:
    """Validate, save, reload and partition."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None, help="where to save the IR JSON")
    args = parser.parse_args(argv)
    pipe = build()
    ir = pipe.validate()
    for node in ir.nodes:
        print(f"node {node.id:<8} {node.flow:<60} clock={node.clock.kind} init={node.init}")
    for edge in ir.edges:
        print(f"edge {edge.id}: {[(p.src_port, p.dst_port, p.adapter.name) for p in edge.ports]}")
    out = Path(args.out or Path(tempfile.mkdtemp()) / "ir.json")
    ir.save(out)
    again = IR.load(out)  # loading imports nothing until a flow is instantiated
    print(f"saved {out} ({out.stat().st_size} bytes); reloaded equal: {again == ir}")
    for policy in ("per-flow", "single", "by-machine"):
        eg = pipe.build_execution(policy=policy)
        parts = {p.id: p.nodes for p in eg.partitions}
        print(f"policy {policy:<10} partitions={parts} cross-edges={len(eg.cross_edges)}")


if __name__ == "__main__":
    main()
