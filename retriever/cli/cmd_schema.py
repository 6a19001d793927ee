"""``retriever schema TARGET [-o DIR]``: JSON Schemas of payload types.

TARGET is a registered type name (``retriever/spatial/v1/Pose``), a class by dotted
path (``pkg.mod:Class``) or a module (``pkg.mod``: every ``@io`` envelope and registered
type defined in it). ``--list`` prints the registered names instead. Without ``-o`` the
schema is printed (for a module: one JSON object mapping type names to schemas); with
``-o DIR`` each schema is written to ``DIR/<name>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``schema`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schema", help="print or write JSON Schemas of payload types",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("target", nargs="?",
                        help="registered name, pkg.mod:Class, or pkg.mod")
    parser.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="write one <name>.json per type into DIR")
    parser.add_argument("--list", action="store_true", help="list registered type names")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute the sub-command; returns the exit code."""
    from retriever.types.generate import dumps
    from retriever.types.registry import json_schema, registered

    if args.list:
        for name, cls in registered().items():
            print(f"{name}\t{cls.__module__}:{cls.__qualname__}")
        return 0
    if not args.target:
        print("error: give a TARGET or --list", file=sys.stderr)
        return 2
    types = _resolve(args.target)
    schemas = {name: json_schema(cls) for name, cls in types.items()}
    if args.output is not None:
        for name, schema in schemas.items():
            path = args.output / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(schema), encoding="utf-8")
            print(path)
        return 0
    if len(schemas) == 1 and ("/" in args.target or ":" in args.target):
        sys.stdout.write(dumps(next(iter(schemas.values()))))
    else:
        sys.stdout.write(dumps(schemas))
    return 0


def _resolve(target: str) -> dict[str, type]:
    """``{name: class}`` for a TARGET (see the module docstring)."""
    import dataclasses
    import importlib

    from retriever.contract.envelope import is_envelope
    from retriever.types.errors import TypeRegistryError
    from retriever.types.registry import lookup, name_of

    def label(cls: type) -> str:
        return name_of(cls) or f"{cls.__module__}.{cls.__qualname__}"

    if "/" in target and ":" not in target:
        cls = lookup(target)
        return {label(cls): cls}
    module_name, _, qualname = target.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: modules of the project
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TypeRegistryError(f"cannot import module {module_name!r}: {exc}",
                                hint="run from the project directory or install the "
                                     "package that defines it") from exc
    if qualname:
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise TypeRegistryError(f"module {module_name!r} has no {qualname!r}")
        if not isinstance(obj, type) or not dataclasses.is_dataclass(obj):
            raise TypeRegistryError(f"{target} is not a dataclass or @io envelope",
                                    hint="schemas exist for dataclasses, @io envelopes "
                                         "and registered types")
        return {label(obj): obj}
    exported = set(getattr(module, "__all__", ()))
    found = {label(v): v for k, v in vars(module).items()
             if isinstance(v, type) and (v.__module__ == module.__name__ or k in exported)
             and (is_envelope(v) or name_of(v) is not None)}
    if not found:
        raise TypeRegistryError(f"module {module_name!r} defines no @io or registered types")
    return dict(sorted(found.items()))
