"""``retriever demo``: a small pipeline that runs and prints (see examples/ for more)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("demo", help="run the quick-start demo")
    p.add_argument("--steps", type=int, default=5, help="number of steps to run")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build a three-flow pipeline, validate it and step it, printing each step."""
    from retriever.demo.quickstart import main

    return main(steps=args.steps)
