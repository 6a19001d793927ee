"""``retriever dora export PIPELINE -o dataflow.yml``: write a dora dataflow.

The file runs the pipeline on dora's own tooling (``dora run``, or ``dora start`` on a
cluster when flows carry placements). It is self-contained: the execution graph is
embedded in its ``env``; nodes run ``PYTHON -m retriever.rt.backends.dora.runner``,
so every machine needs retriever and the pipeline's modules importable by that
interpreter (``--pythonpath`` adds directories).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``dora`` sub-command (``export``)."""
    p: argparse.ArgumentParser = sub.add_parser("dora", help="dora-rs integration")
    dsub = p.add_subparsers(dest="dora_command", metavar="ACTION")
    ex = dsub.add_parser("export", help="write the dora dataflow YAML of a pipeline")
    ex.add_argument("pipeline", help="file.py:NAME, package.module:NAME or a registered name")
    ex.add_argument("-o", "--output", required=True, help="where to write the YAML")
    ex.add_argument("--policy", default="per-flow",
                    help="partitioning: per-flow (default), single or by-machine")
    ex.add_argument("--python", default=sys.executable,
                    help="interpreter the nodes run (absolute path on every machine)")
    ex.add_argument("--pythonpath", action="append", default=[],
                    help="directory to add to the nodes' PYTHONPATH (repeatable)")
    ex.add_argument("--no-deploy", action="store_true",
                    help="leave out deploy: sections (dora run refuses them)")
    ex.set_defaults(func=export)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
    return p


def export(args: argparse.Namespace) -> int:
    """Write the dataflow and say how to run it."""
    from retriever.ir.execution import build_execution
    from retriever.rt.backends.dora.compile import compile_dataflow, plan_dataflow

    from .load import load_ir

    ir = load_ir(args.pipeline)
    graph = build_execution(ir, policy=args.policy)
    env = {}
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in args.pythonpath)
    text = compile_dataflow(graph, python=args.python, env=env, deploy=not args.no_deploy)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    plan = plan_dataflow(graph)
    how = "dora start --attach" if plan.placed and not args.no_deploy else "dora run"
    print(f"wrote {args.output}: {len(plan.nodes)} dora node(s) for pipeline {ir.name!r}; "
          f"run it with: {how} {args.output}")
    return 0
