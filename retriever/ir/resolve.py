"""Naming classes in the IR (``module:qualname``) and resolving those names again.

Resolution happens only when a backend instantiates flows, never when an IR is loaded.
Classes that cannot be imported by name (defined in a function, or in a script run as
``__main__``) are remembered for this process.

An IR may come from a file, so a name in it is never trusted to pick what runs (the
trust model is described in ``docs/trust.md``):

- a name resolves to an object that is checked for its role (a ``Flow`` subclass, an
  ``@io`` class, a dataclass, a worker function) before anyone calls it;
- a module the name points into is imported only if it is already imported in this
  process, lies in the ``retriever`` package, or lies in a package this process granted
  with :func:`allow_imports` (``execute_ir(..., allow_imports=[...])``); importing a
  module runs its top-level code, so a file alone never decides that;
- a ``__main__`` class is rebuilt from its script (``source_file``) only when that script
  is the one this process is running, or the file was granted with
  :func:`allow_source_exec` (``execute_ir(..., allow_source_exec=True)``).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from retriever.contract.envelope import is_envelope
from retriever.contract.errors import ConfigError, IRError
from retriever.flow.base import Flow

_LIVE: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_MAIN_ALIAS = "__retriever_main__"
#: Packages whose modules an IR may always import (our own, free of import-time effects).
_OWN_PACKAGES = ("retriever",)
_lock = threading.Lock()
_granted_packages: set[str] = set()
_granted_any = False
_granted_sources: set[str] = set()
_TRUST_HINT = ("import the module before running the IR, or allow it explicitly: "
               "execute_ir(..., allow_imports=['<package>']) / retriever run --allow-import "
               "<package> (see docs/trust.md)")


def identity(cls: type) -> str:
    """``module:qualname`` of a class; remembers it for in-process resolution."""
    ident = f"{cls.__module__}:{cls.__qualname__}"
    _LIVE[ident] = cls
    return ident


def main_source_file() -> str | None:
    """The file of the script running as ``__main__``, if any."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    return str(Path(file).resolve()) if file else None


# ------------------------------------------------------------------ what may be imported

def allow_imports(packages: Iterable[str] | bool) -> None:
    """Let IRs import not-yet-imported modules of ``packages`` (``True``: any module).

    A grant lasts for the life of the process (worker processes forked later inherit it).
    """
    global _granted_any
    with _lock:
        if packages is True:
            _granted_any = True
            return
        if packages is False:
            return
        if isinstance(packages, str) or not isinstance(packages, Iterable):
            raise ConfigError(f"allow_imports={packages!r}: pass a list of package names "
                              "(or True for any)", hint="allow_imports=['mypkg']")
        for p in packages:
            if not isinstance(p, str) or not p or p.startswith(".") or p.endswith("."):
                raise ConfigError(f"allow_imports: {p!r} is not a package name",
                                  hint="pass names such as 'mypkg' or 'mypkg.flows'")
            _granted_packages.add(p)


def allow_source_exec(files: Iterable[str]) -> None:
    """Let IRs rebuild ``__main__`` classes by executing these script files."""
    with _lock:
        _granted_sources.update(str(Path(f).resolve()) for f in files)


def granted() -> tuple[bool, list[str], list[str]]:
    """This process's grants: (any module, granted packages, granted script files), so
    that a worker process spawned for it can be given exactly the same."""
    with _lock:
        return _granted_any, sorted(_granted_packages), sorted(_granted_sources)


_trust = threading.local()


@contextmanager
def trusted_code() -> Iterator[None]:
    """Within the block (on this thread), the names being resolved come from the
    program's own code, not from a file: any module they name may be imported. Used by
    calls such as ``as_flow("pkg.mod:fn", component="component.yml")``."""
    _trust.depth = getattr(_trust, "depth", 0) + 1
    try:
        yield
    finally:
        _trust.depth -= 1


@contextmanager
def from_ir() -> Iterator[None]:
    """Within the block (on this thread), objects are being built from an IR's names
    and values (flows instantiated from their init config): code that imports by name
    on its own behalf, such as a worker component's type names, follows the same rules
    (:func:`import_for`)."""
    _trust.ir = getattr(_trust, "ir", 0) + 1
    try:
        yield
    finally:
        _trust.ir -= 1


def import_for(module_name: str) -> Any:
    """Import a module named by data: under the IR rules inside :func:`from_ir` (unless
    in :func:`trusted_code`), like a plain import elsewhere (the program's own call)."""
    if getattr(_trust, "ir", 0) > 0:
        return _import(module_name, None, module_name)
    return importlib.import_module(module_name)


def _may_import(module: str) -> bool:
    if _granted_any or getattr(_trust, "depth", 0) > 0:
        return True
    return any(module == p or module.startswith(p + ".")
               for p in (*_OWN_PACKAGES, *_granted_packages))


# ------------------------------------------------------------------ resolution

def resolve_class(ident: str, source_file: str | None = None) -> Any:
    """The object named ``module:qualname`` (see module doc), unchecked.

    Callers that call the result use one of the checked resolvers below instead.
    """
    live = _LIVE.get(ident)
    if live is not None:
        return live
    if not isinstance(ident, str) or ":" not in ident:
        raise IRError(f"bad class name {ident!r} in IR", hint="expected 'module:qualname'")
    module_name, qualname = ident.split(":", 1)
    if "<locals>" in qualname:
        raise IRError(
            f"class {ident} was defined inside a function and cannot be rebuilt here",
            hint="define flows and @io classes at module level to run them in other processes")
    module = _import(module_name, source_file, ident)
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise IRError(f"module {module_name!r} has no {qualname!r} (from IR {ident})",
                          hint="the code changed since the IR was made; re-validate") from None
    return obj


def _checked(ident: str, source_file: str | None, ok: Callable[[Any], bool],
             role: str) -> Any:
    obj = resolve_class(ident, source_file)
    if not ok(obj):
        raise IRError(f"{ident!r} names {_describe(obj)}, not {role}; refusing to use it",
                      hint="the IR file may have been tampered with; an IR can only name "
                           f"{role}s (see docs/trust.md)")
    if isinstance(obj, type):
        _LIVE.setdefault(ident, obj)
    return obj


def _describe(obj: Any) -> str:
    kind = "a class" if isinstance(obj, type) else f"a {type(obj).__name__}"
    return f"{kind} ({getattr(obj, '__qualname__', repr(obj)[:40])})"


def _is_flow(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Flow) and obj is not Flow


def _is_value_class(obj: Any) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def resolve_flow(ident: str, source_file: str | None = None) -> type:
    """The ``Flow`` subclass named ``ident``; anything else is refused before use."""
    cls: type = _checked(ident, source_file, _is_flow, "a Flow subclass")
    return cls


def resolve_envelope(ident: str, source_file: str | None = None) -> type:
    """The ``@io`` class named ``ident``; anything else is refused before use."""
    cls: type = _checked(ident, source_file, is_envelope, "an @io class")
    return cls


def resolve_value_class(ident: str, source_file: str | None = None) -> type:
    """The dataclass (``@io`` classes and dataclass payload types included) named
    ``ident``, for rebuilding a constructor argument; anything else is refused."""
    cls: type = _checked(ident, source_file, _is_value_class, "a dataclass or @io class")
    return cls


def resolve_function(ident: str, source_file: str | None = None) -> Callable[..., Any]:
    """A module-level Python function of user code named ``ident`` (worker functions).

    Builtins and functions of the standard library are refused: no worker function
    lives there, and calling them with data from a file is how a file would run code.
    """
    def ok(obj: Any) -> bool:
        if not inspect.isfunction(obj):
            return False
        top = str(getattr(obj, "__module__", "") or "").split(".")[0]
        return top not in sys.stdlib_module_names
    fn: Callable[..., Any] = _checked(ident, source_file, ok, "a worker function")
    return fn


def check_graph(nodes: Iterable[Any]) -> None:
    """Resolve and check every name the nodes of an IR hold (flows, their ``@io``
    classes, dataclass constructor arguments), so that a bad name is refused before
    any process starts or any flow is built."""
    for node in nodes:
        resolve_flow(node.flow, node.source_file)
        for side in (node.inputs, node.outputs):
            for e in side.elements:
                if e.cls:
                    resolve_envelope(e.cls, node.source_file)
        for ident in idents_in_init(node.init):
            resolve_value_class(ident, node.source_file)


def idents_in_init(value: Any) -> Iterator[str]:
    """Every ``$dataclass`` class name inside an encoded init config."""
    if isinstance(value, list):
        for v in value:
            yield from idents_in_init(v)
    elif isinstance(value, dict):
        name = value.get("$dataclass")
        if isinstance(name, str):
            yield name
        for v in value.values():
            yield from idents_in_init(v)


def import_module(module_name: str, source_file: str | None = None) -> Any:
    """Import ``module_name`` for an IR under the rules of the module doc."""
    return _import(module_name, source_file, module_name)


def _import(module_name: str, source_file: str | None, ident: str) -> Any:
    if module_name in ("__main__", _MAIN_ALIAS):
        return _main_module(source_file, ident)
    module = sys.modules.get(module_name)
    if module is not None:
        return module
    if not _may_import(module_name):
        raise IRError(f"the IR names {ident}, but module {module_name!r} is not imported "
                      "and an IR may not import modules on its own (that runs their code)",
                      hint=_TRUST_HINT)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise IRError(f"cannot import module {module_name!r} for {ident}: {exc}",
                      hint="make the module importable (PYTHONPATH) where the flow runs"
                      ) from None


def _main_module(source_file: str | None, ident: str) -> Any:
    main = sys.modules.get("__main__")
    qual = ident.split(":", 1)[1].split(".")[0] if ":" in ident else ""
    if main is not None and (not qual or hasattr(main, qual)):
        return main
    if _MAIN_ALIAS in sys.modules:
        return sys.modules[_MAIN_ALIAS]
    if source_file is None:
        raise IRError(f"class {ident} lives in a __main__ script of unknown location")
    path = str(Path(source_file).resolve())
    if not (_granted_any or path in _granted_sources or path == main_source_file()):
        raise IRError(
            f"class {ident} lives in the script {source_file!r}, which would have to be "
            "executed to rebuild it; an IR may not do that on its own",
            hint="pass allow_source_exec=True to execute_ir (retriever run "
                 "--allow-source-exec) if you trust that script, or move the flows into "
                 "an importable module (see docs/trust.md)")
    module = exec_file(Path(path), _MAIN_ALIAS)
    if module is None:
        raise IRError(f"cannot load {source_file!r} for class {ident}")
    return module


def exec_file(path: Path, name: str) -> Any:
    """Run the Python file ``path`` as module ``name`` (registered in ``sys.modules``
    first, so classes defined there resolve by that name); None when Python has no
    loader for it. Callers decide whether the file may run (docs/trust.md)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
