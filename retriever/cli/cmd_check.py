"""``retriever check``: statically check flows and pipelines against the typing contract.

Exit status: 0 when clean, 1 when a problem was found, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``check`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check", help="check flows and pipelines against the typing contract",
        description="Import the given files, directories or modules (in a separate "
                    "process with a time limit, never as __main__, never running a "
                    "pipeline) and check every flow class and every "
                    "pipeline they build or register.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="a .py file, a directory (recursive) or a dotted module")
    parser.add_argument("--strict-single-io", action="store_true",
                        help="reject composite tuple signatures (RET004)")
    parser.add_argument("--explicit-sync", action="store_true",
                        help="require sync= (or a default) on then()/>> edges too (RET108)")
    parser.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATH_OR_GLOB",
                        help="skip matching files found in directories (repeatable; "
                             "adds to [tool.retriever.check] exclude in pyproject.toml)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="time limit for importing one checked module (default: 60); "
                             "modules are imported in a separate process (docs/trust.md)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check ``args.paths``; print the findings; return the exit status."""
    from retriever.check import CheckUsageError, render
    from retriever.check.isolate import check_isolated
    from retriever.check.report import summary
    from retriever.check.sources import configured_excludes

    if not args.paths:
        print("retriever check: error: give at least one PATH", file=sys.stderr)
        return 2
    try:
        exclude = [*configured_excludes(), *args.exclude]
        result = check_isolated(list(args.paths), strict_single_io=args.strict_single_io,
                                exclude=exclude, timeout=args.timeout,
                                explicit_sync=args.explicit_sync)
    except CheckUsageError as exc:
        print(f"retriever check: error: {exc.message}"
              + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    text = render(result, args.format)
    if text:
        print(text)
    if args.format != "json":
        print(summary(result), file=sys.stderr)
    return 0 if result.ok else 1
