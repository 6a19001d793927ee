"""``retriever list``: show the registered pipelines (entry-point plugins included)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``list`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "list", help="list registered pipelines",
        description="Load the retriever.plugins entry points (and any PATH given, as "
                    "'retriever check' does) and list the pipelines registered with "
                    "@register_pipeline.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files, directories or modules to import first")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="output format (default: text)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the registered pipelines; return the exit status."""
    from retriever.check import CheckUsageError, collect_sources
    from retriever.check.loader import failure_diagnostics, guarded, import_source
    from retriever.registry.pipeline import list_pipelines

    try:
        sources = collect_sources(args.paths) if args.paths else []
    except CheckUsageError as exc:
        print(f"retriever list: error: {exc.message}", file=sys.stderr)
        return 2
    status = 0
    for src in sources:
        with guarded(src.file):
            try:
                import_source(src)
            except Exception as exc:  # reported, and the exit status says so
                for diag in failure_diagnostics(exc.__cause__ or exc, src.file):
                    print(f"{diag.location.file}:{diag.location.line}: {diag.code} "
                          f"{diag.message}", file=sys.stderr)
                status = 1
    entries = list_pipelines()
    if args.format == "json":
        print(json.dumps([{"name": e.name, "factory": e.origin, "description": e.description}
                          for e in entries], indent=2))
        return status
    if not entries:
        print("no pipelines registered", file=sys.stderr)
        return status
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.origin}" + (f"  {e.description}" if e.description else ""))
    return status
