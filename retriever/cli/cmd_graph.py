"""``retriever graph PIPELINE``: print the graph; write Mermaid or DOT."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``graph`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "graph", help="show a pipeline's graph (text, Mermaid or DOT)")
    p.add_argument("pipeline", help="file.py:NAME, package.module:NAME or a registered name")
    p.add_argument("--format", choices=("text", "mermaid", "dot"), default=None,
                   help="output format (default: text, or from the -o file's suffix)")
    p.add_argument("-o", "--output", help="write to this file (.mmd/.md -> Mermaid, .dot)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Render the pipeline."""
    from .load import load_ir
    from .render import to_dot, to_mermaid, to_text

    ir = load_ir(args.pipeline)
    fmt = args.format
    if fmt is None and args.output:
        fmt = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".md": "mermaid"}.get(
            Path(args.output).suffix, "text")
    text = {"mermaid": to_mermaid, "dot": to_dot}.get(fmt or "text", to_text)(ir)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0
