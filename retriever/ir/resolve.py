"""Naming classes in the IR (``module:qualname``) and resolving those names again.

Resolution happens only when a backend instantiates flows, never when an IR is loaded.
Classes that cannot be imported by name (defined in a function, or in a script run as
``__main__``) are remembered for this process; ``__main__`` classes are re-imported in
other processes from their source file without running the script's main block.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import weakref
from pathlib import Path
from typing import Any

from retriever.contract.errors import IRError

_LIVE: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_MAIN_ALIAS = "__retriever_main__"


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


def resolve_class(ident: str, source_file: str | None = None) -> Any:
    """Import the class named ``module:qualname`` (see module doc)."""
    live = _LIVE.get(ident)
    if live is not None:
        return live
    if ":" not in ident:
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


def _import(module_name: str, source_file: str | None, ident: str) -> Any:
    if module_name == "__main__":
        main = sys.modules.get("__main__")
        qual = ident.split(":", 1)[1].split(".")[0]
        if main is not None and hasattr(main, qual):
            return main
        if source_file is None:
            raise IRError(f"class {ident} lives in a __main__ script of unknown location")
        if _MAIN_ALIAS in sys.modules:
            return sys.modules[_MAIN_ALIAS]
        spec = importlib.util.spec_from_file_location(_MAIN_ALIAS, source_file)
        if spec is None or spec.loader is None:
            raise IRError(f"cannot load {source_file!r} for class {ident}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MAIN_ALIAS] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise IRError(f"cannot import module {module_name!r} for {ident}: {exc}",
                      hint="make the module importable (PYTHONPATH) where the flow runs"
                      ) from None
