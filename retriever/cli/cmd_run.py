"""``retriever run PIPELINE``: run a pipeline with a live progress view."""

from __future__ import annotations

import argparse
from typing import Any

from .usage import check_backend


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``run`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("run", help="run a pipeline on a backend")
    p.add_argument("pipeline",
                   help="file.py:NAME, package.module:NAME, an IR file.json or a registered name")
    p.add_argument("--backend", default="multiprocessing",
                   help="multiprocessing (default), in-process or dora")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until ^C)")
    p.add_argument("--interval", type=float, default=0.5, help="progress refresh, seconds")
    p.add_argument("--visualize", default=None, metavar="VIEWER",
                   help="live view: rerun, auto, foxglove or foxglove:PORT")
    p.add_argument("--allow-import", action="append", default=[], metavar="PACKAGE",
                   help="let an IR file import modules of PACKAGE that are not imported yet "
                        "(repeatable; see docs/trust.md)")
    p.add_argument("--allow-source-exec", action="store_true",
                   help="let an IR file rebuild __main__ flows by executing the script it "
                        "names (see docs/trust.md)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run and watch."""
    from retriever.flow.pipeline import Pipeline
    from retriever.rt.execute import execute_ir

    from .load import load_pipeline
    from .progress import run_with_progress

    check_backend(args.backend)  # a typo is a usage error (exit 2), found before loading
    obj = load_pipeline(args.pipeline)

    def start() -> Any:
        if isinstance(obj, Pipeline):
            extra = {"visualize": args.visualize} if args.visualize else {}
            return obj.run(backend=args.backend, duration=args.duration, blocking=False,
                           **extra)
        return execute_ir(obj, args.backend, duration=args.duration, blocking=False,
                          allow_imports=args.allow_import,
                          allow_source_exec=args.allow_source_exec)

    run_with_progress(start, interval=args.interval)
    return 0
