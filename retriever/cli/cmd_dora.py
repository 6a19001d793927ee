"""``retriever dora export PIPELINE -o dataflow.yml``: write a dora dataflow.

The file runs the pipeline on dora's own tooling (``dora run``, or ``dora build`` and
``dora start`` on a cluster when flows carry placements), from any working directory:

- the execution graph is embedded in the dataflow's ``env``;
- nodes run ``python3 -m retriever.rt.backends.dora.runner`` by default, i.e. the
  ``python3`` found on ``PATH`` where the node starts (activate the environment, or pass
  ``--python``); nothing names the exporting machine's interpreter;
- every node has a ``build:`` step installing retriever with its dora extra at the
  exporting version (``dora build``), replaceable with ``--build`` or left out with
  ``--no-build``;
- modules of the pipeline that are not installed (a source tree, like ``examples/``)
  are found through a ``PYTHONPATH`` *relative to the dataflow file*: dora starts nodes
  in the file's directory, so the dataflow works wherever that tree is, on any machine
  that has the same layout. Installed packages need nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

DEFAULT_PYTHON = "python3"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``dora`` sub-command (``export``)."""
    p: argparse.ArgumentParser = sub.add_parser("dora", help="dora-rs integration")
    dsub = p.add_subparsers(dest="dora_command", metavar="ACTION")
    ex = dsub.add_parser("export", help="write the dora dataflow YAML of a pipeline")
    ex.add_argument("pipeline", help="file.py:NAME, package.module:NAME or a registered name")
    ex.add_argument("-o", "--output", required=True, help="where to write the YAML")
    ex.add_argument("--policy", default="per-flow",
                    help="partitioning: per-flow (default), single or by-machine")
    ex.add_argument("--python", default=DEFAULT_PYTHON,
                    help="interpreter the nodes run: a command on PATH (default python3) "
                         "or an absolute path valid on every machine")
    ex.add_argument("--pythonpath", action="append", default=[],
                    help="directory to add to the nodes' PYTHONPATH (repeatable; written "
                         "relative to the output file)")
    ex.add_argument("--build", default=None,
                    help="the nodes' build: command (default: pip install "
                         "pyretriever[dora]==<this version>)")
    ex.add_argument("--no-build", action="store_true", help="leave out build: steps")
    ex.add_argument("--no-deploy", action="store_true",
                    help="leave out deploy: sections (dora run refuses them)")
    ex.set_defaults(func=export)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
    return p


def _named_modules(data: Any, found: set[str]) -> set[str]:
    """Modules named by ``module:qualname`` references (flows and payload types)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("flow", "cls") and isinstance(value, str) and ":" in value:
                found.add(value.split(":", 1)[0])
            else:
                _named_modules(value, found)
    elif isinstance(data, list):
        for item in data:
            _named_modules(item, found)
    return found


def _installed(path: str) -> bool:
    """Whether ``path`` lies in an installation directory (site-packages, stdlib)."""
    real = os.path.realpath(path)
    roots = {os.path.realpath(p) for p in sysconfig.get_paths().values()}
    roots |= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    return any(real == r or real.startswith(r + os.sep) for r in roots)


def import_roots(modules: set[str]) -> list[str]:
    """Directories to put on ``sys.path`` so that ``modules`` import, leaving out
    retriever itself and anything installed."""
    roots: list[str] = []
    for name in sorted(modules):
        if name == "retriever" or name.startswith("retriever.") or name == "__main__":
            continue
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file or _installed(file):
            continue
        root = Path(file).resolve().parent
        depth = name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
        for _ in range(depth):
            root = root.parent
        if str(root) not in roots:
            roots.append(str(root))
    return roots


def _relative(path: str, base: Path) -> str:
    rel = os.path.relpath(os.path.abspath(path), base)
    return rel if rel != "." else "."


def default_build() -> str:
    """``pip install`` of this retriever version with the dora extra."""
    try:
        version = importlib.metadata.version("pyretriever")
    except importlib.metadata.PackageNotFoundError:
        return "pip install pyretriever[dora]"
    return f"pip install pyretriever[dora]=={version}"


def export(args: argparse.Namespace) -> int:
    """Write the dataflow and say how to run it."""
    from retriever.ir.execution import build_execution
    from retriever.rt.backends.dora.compile import (
        compile_dataflow,
        plan_dataflow,
        pool_publishers,
        shm_pool_size,
    )

    from .load import load_ir

    ir = load_ir(args.pipeline)
    graph = build_execution(ir, policy=args.policy)
    out = Path(args.output).resolve()
    roots = import_roots(_named_modules(ir.to_dict(), set())) + list(args.pythonpath)
    env = {}
    if roots:
        env["PYTHONPATH"] = os.pathsep.join(
            dict.fromkeys(_relative(r, out.parent) for r in roots))
    build = None if args.no_build else (args.build or default_build())
    note = ("nodes start in this file's directory; PYTHONPATH entries are relative to it"
            if roots else "")
    pool = shm_pool_size(pool_publishers(graph))
    text = compile_dataflow(graph, python=args.python, env=env,
                            deploy=not args.no_deploy, build=build, header=note,
                            shm_pool=pool)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    plan = plan_dataflow(graph)
    how = ("dora build, then dora start --attach" if plan.placed and not args.no_deploy
           else "dora run")
    print(f"wrote {args.output}: {len(plan.nodes)} dora node(s) for pipeline {ir.name!r}; "
          f"run it with: {how} {args.output}")
    return 0
