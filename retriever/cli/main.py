"""``retriever`` entry point: dispatches to one module per sub-command.

Each sub-command lives in ``retriever/cli/cmd_<name>.py`` and defines
``add_parser(subparsers) -> argparse.ArgumentParser`` whose parser sets ``func`` (a
callable taking the parsed namespace and returning an exit code). Modules are imported
only to build the parser, and each keeps its heavy imports inside its ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from retriever.contract.errors import RetrieverError

from .usage import UsageError

COMMANDS = ("check", "list", "graph", "run", "schema", "inspect", "replay", "dora", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(prog="retriever",
                                     description="Typed dataflow runtime for robots.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"retriever.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"retriever.cli.cmd_{name}":
                continue  # sub-command not part of this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for usage errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from retriever import __version__

        print(f"retriever {__version__}")
        return 0
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except UsageError as exc:
        print(f"retriever {args.command}: error: {exc.message}"
              + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    except RetrieverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`retriever inspect x.mcap | head`): that is not an error
        # of ours. Point stdout at /dev/null so the flush at exit does not fail again.
        _silence_stdout()
        return SIGPIPE_STATUS


#: Exit status after the reader of our output went away (as if killed by SIGPIPE).
SIGPIPE_STATUS = 141


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (captured): nothing will flush to the pipe
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
