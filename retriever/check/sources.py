"""What ``retriever check`` looks at: resolving PATH arguments to source files.

A PATH is a ``.py`` file, a directory (searched recursively) or a dotted module name
(a package stands for all of its modules). Every file gets the module name it would be
imported by: package-qualified inside a package, its stem otherwise.
"""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from retriever.contract.errors import RetrieverError

#: Files that are never imported: entry scripts and tool configuration.
SKIPPED_FILES = frozenset({"__main__.py", "setup.py", "conftest.py", "noxfile.py"})
#: Directories never searched.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist",
                          "venv"})


class CheckUsageError(RetrieverError):
    """A PATH argument names no file, directory or importable module."""

    code = "RET902"


@dataclass(frozen=True)
class Source:
    """One file to check: its resolved path, import name and ``sys.path`` root."""

    file: Path
    module: str
    root: Path


def module_name(file: Path) -> tuple[str, Path]:
    """``(dotted name, sys.path root)`` of a file, package-qualified when in a package."""
    parts = [] if file.name == "__init__.py" else [file.stem]
    top = file.parent
    while (top / "__init__.py").is_file():
        parts.insert(0, top.name)
        top = top.parent
    return ".".join(parts) or file.parent.name, top


def _skip_dir(path: Path) -> bool:
    return path.name.startswith(".") or path.name in SKIPPED_DIRS


def _walk(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            if not _skip_dir(entry):
                yield from _walk(entry)
        elif entry.suffix == ".py" and entry.name not in SKIPPED_FILES:
            yield entry


def _from_file(file: Path) -> Source:
    resolved = file.resolve()
    name, root = module_name(resolved)
    return Source(resolved, name, root)


def _from_module(name: str) -> list[Source]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise CheckUsageError(f"cannot find module {name!r}: {exc}") from None
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise CheckUsageError(
            f"{name!r} is not a file, a directory or an importable Python module",
            hint="pass a path to a .py file or a directory, or a dotted module name")
    locations = list(spec.submodule_search_locations or [])
    if locations:  # a package: every module in it
        return [_from_file(f) for loc in locations if Path(loc).is_dir()
                for f in _walk(Path(loc))]
    return [_from_file(Path(spec.origin))]


def configured_excludes(start: Path | None = None) -> list[str]:
    """``exclude`` globs from ``[tool.retriever.check]`` of the nearest pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        cfg = folder / "pyproject.toml"
        if cfg.is_file():
            try:
                data = tomllib.loads(cfg.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise CheckUsageError(f"cannot read {cfg}: {exc}") from None
            table = data.get("tool", {}).get("retriever", {}).get("check", {})
            return [str(folder / pat) for pat in table.get("exclude", [])]
    return []


def _excluded(file: Path, patterns: Sequence[str]) -> bool:
    text = str(file)
    return any(text == pat or text.startswith(pat.rstrip("/") + "/") or fnmatch(text, pat)
               for pat in patterns)


def collect_sources(paths: Sequence[str], exclude: Sequence[str] = ()) -> list[Source]:
    """The files named by ``paths``, each once, in a stable order.

    Files found by searching a directory are skipped when they match an ``exclude``
    pattern (an absolute path prefix or glob); files named explicitly are always checked.
    """
    if not paths:
        raise CheckUsageError("no PATH given", hint="retriever check PATH [PATH ...]")
    patterns = [str(Path(p).resolve()) if not any(c in p for c in "*?[") else p
                for p in exclude]
    found: dict[Path, Source] = {}
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            items = [_from_file(f) for f in _walk(path)
                     if not _excluded(f.resolve(), patterns)]
        elif path.is_file():
            if path.suffix != ".py":
                raise CheckUsageError(f"{arg!r} is not a Python file (.py)")
            items = [_from_file(path)]
        elif arg.endswith(".py") or "/" in arg or "\\" in arg:
            raise CheckUsageError(f"no such file or directory: {arg!r}")
        else:
            items = _from_module(arg)
        for src in items:
            found.setdefault(src.file, src)
    return list(found.values())
