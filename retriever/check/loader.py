"""Importing checked files safely: under diagnostic collection, never as ``__main__``.

A checked module's top level runs (that is how its classes and pipelines come to
exist), but inside guards: authoring mistakes are collected as diagnostics instead of
raised, ``Pipeline.run/step/record/replay`` refuse to work, ``sys.argv`` holds only the
file name, what the module prints goes to stderr, and process-wide authoring defaults
are restored afterwards.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic, Location
from retriever.contract.errors import ContractError, RetrieverError
from retriever.flow.context import collecting
from retriever.flow.default import clear_default_pipeline, reset_default_pipeline
from retriever.flow.services import refuse_running
from retriever.flow.settings import init, settings

from .sources import Source


#: Facade operations that would run a graph; refused while a checked module loads.
@dataclass
class SourceIndex:
    """Positions read from a file's syntax tree (1-based lines and columns)."""

    classes: dict[str, tuple[int, int]] = field(default_factory=dict)
    functions: dict[str, tuple[int, int]] = field(default_factory=dict)
    globals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: ast.Module) -> SourceIndex:
        """Index every class and function by ``__qualname__``, and top-level names."""
        index = cls()
        index._visit(tree, "")
        for stmt in tree.body:
            for name in _bound_names(stmt):
                index.globals.setdefault(name, stmt.lineno)
        return index

    def _visit(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                qual = prefix + child.name
                self.classes.setdefault(qual, (child.lineno, child.col_offset + 1))
                self._visit(child, qual + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = prefix + child.name
                self.functions.setdefault(qual, (child.lineno, child.col_offset + 1))
                self._visit(child, qual + ".<locals>.")
            else:
                self._visit(child, prefix)


def _bound_names(stmt: ast.stmt) -> Iterator[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
        for inner in stmt.body:
            yield from _bound_names(inner)
    for t in targets:
        for node in ast.walk(t):
            if isinstance(node, ast.Name):
                yield node.id


def _refusal(name: str) -> RetrieverError:
    return RetrieverError(
        f"Pipeline.{name}() was called while the module was imported for checking",
        hint="retriever check never runs pipelines; move this call under "
             "'if __name__ == \"__main__\":'", code="RET900")


@contextmanager
def guarded(file: Path) -> Iterator[list[Diagnostic]]:
    """Collect authoring diagnostics and refuse to run pipelines within the block."""
    saved_argv = sys.argv
    current = settings()
    saved_defaults = (current.default_sync, current.default_on_lag)
    sys.argv = [str(file)]
    reset_default_pipeline()
    try:
        # Whatever the module prints goes to stderr: stdout carries the report (--format json).
        with refuse_running(_refusal), collecting() as found, redirect_stdout(sys.stderr):
            yield found
    finally:
        sys.argv = saved_argv
        init(default_sync=saved_defaults[0], default_on_lag=saved_defaults[1])
        clear_default_pipeline()


def _private_name(src: Source) -> str:
    return "_retriever_check_." + re.sub(r"\W", "_", str(src.file.with_suffix("")))


def _is_file(module: ModuleType | None, file: Path) -> bool:
    loaded = getattr(module, "__file__", None)
    return bool(loaded) and Path(str(loaded)).resolve() == file


def import_name(src: Source) -> str:
    """The module name :func:`import_source` uses for ``src``.

    Its own name, unless another module already holds that name; a file outside any
    package whose name is taken (say ``types.py``) gets a private name instead.
    """
    existing = sys.modules.get(src.module)
    if existing is None or _is_file(existing, src.file):
        return src.module
    return _private_name(src)


def import_source(src: Source) -> ModuleType:
    """Import a checked file under :func:`import_name` (never as ``__main__``)."""
    root = str(src.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    name = import_name(src)
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    if "." in name and name == src.module:
        module = importlib.import_module(name)
        if _is_file(module, src.file):
            return module
        name = _private_name(src)
    spec = importlib.util.spec_from_file_location(name, src.file)
    if spec is None or spec.loader is None:
        raise RetrieverError(f"cannot load {src.file}", code="RET900")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise PartialImport(module) from exc
    return module


class PartialImport(Exception):
    """A checked module raised at import; ``module`` holds what its top level built."""

    def __init__(self, module: ModuleType) -> None:
        super().__init__(module.__name__)
        self.module = module


def failure_diagnostics(exc: BaseException, file: Path, what: str = "importing the module",
                        code: str = "RET900") -> list[Diagnostic]:
    """Diagnostics for an exception raised while loading ``file`` (or calling into it)."""
    if isinstance(exc, ContractError):
        return [d if d.location.file else d.at(file=str(file), line=_line_in(exc, file))
                for d in exc.diagnostics]
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).exists():
        return [RULES["RET900"].diag(
            f"syntax error: {exc.msg}",
            location=Location(str(Path(exc.filename).resolve()), exc.lineno or 1,
                              exc.offset or 1))]
    line = _line_in(exc, file)
    if isinstance(exc, RetrieverError):
        message = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        return [Diagnostic(exc.code, f"{what} failed: {message}", exc.hint,
                           Location(str(file), line, 1))]
    text = str(exc).splitlines()[0] if str(exc) else ""
    rule = RULES[code]
    return [rule.diag(f"{what} raised {type(exc).__name__}" + (f": {text}" if text else ""),
                      location=Location(str(file), line, 1))]


def _line_in(exc: BaseException, file: Path) -> int:
    line = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            if Path(frame.filename).resolve() == file and frame.lineno:
                line = frame.lineno
        except OSError:
            continue
    return line
