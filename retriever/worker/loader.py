"""Naming worker functions so another process can load them, and loading them.

A worker function is referred to as ``"package.module:function"`` (or just
``"package.module"`` when that module calls ``run(fn, ...)`` at import, as
component modules written for ``run()`` do). While such a module is imported by the
loader, ``run()`` only records the function and its options instead of running it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retriever.contract.errors import IRError
from retriever.ir.resolve import import_module, main_source_file, resolve_function

from .errors import WorkerError


@dataclass
class Registration:
    """A worker function and the options its module passed to ``run()``."""

    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


_lock = threading.RLock()
_loading = 0
_by_module: dict[str, Registration] = {}
_live: dict[str, Callable[..., Any]] = {}


def loading() -> bool:
    """Whether a worker module is being imported by the loader right now."""
    return _loading > 0


def register(fn: Callable[..., Any], options: dict[str, Any]) -> None:
    """Record ``run(fn, **options)`` called while its module is being loaded."""
    module = getattr(fn, "__module__", None) or "__main__"
    _by_module[module] = Registration(fn, dict(options))
    if module == "__retriever_main__":
        _by_module["__main__"] = _by_module[module]


def fn_ref(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """``("module:qualname", source_file)`` of a worker function (remembered locally).

    ``source_file`` is set for functions of a script run as ``__main__``.
    """
    module = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None)
    if not module or not qual:
        raise WorkerError(f"worker function {fn!r} has no module/qualname", code="RET852",
                          hint="define the worker function at module level")
    ref = f"{module}:{qual}"
    _live[ref] = fn
    source = None
    if module == "__main__":
        source = main_source_file()
        if source is None:
            try:
                file = inspect.getsourcefile(fn)
            except TypeError:
                file = None
            source = str(Path(file).resolve()) if file else None
    return ref, source


def load(ref: str, source_file: str | None = None) -> Registration:
    """The worker function named ``ref`` and the options its module gave ``run()``."""
    global _loading
    with _lock:
        live = _live.get(ref)
        if live is not None:
            module = ref.split(":", 1)[0]
            reg = _by_module.get(module)
            return Registration(live, dict(reg.options) if reg and reg.fn is live else {})
        _loading += 1
        try:
            if ":" in ref:
                try:
                    fn = resolve_function(ref, source_file)
                except IRError as exc:
                    raise WorkerError(f"cannot load worker function {ref!r}: {exc.message}",
                                      code="RET852", hint=exc.hint) from None
                module = ref.split(":", 1)[0]
                reg = _by_module.get(module) or _by_module.get("__retriever_main__")
                opts = dict(reg.options) if reg and _same_fn(reg.fn, fn) else {}
                return Registration(fn, opts)
            try:
                import_module(ref, source_file)
            except IRError as exc:
                raise WorkerError(f"cannot import worker module {ref!r}: {exc.message}",
                                  code="RET852", hint=exc.hint) from None
            reg = _by_module.get(ref)
            if reg is None:
                raise WorkerError(f"module {ref!r} did not call run(worker_function)",
                                  code="RET852",
                                  hint="name the function: 'package.module:function'")
            return Registration(reg.fn, dict(reg.options))
        finally:
            _loading -= 1


def _same_fn(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    return a is b or getattr(a, "__qualname__", 1) == getattr(b, "__qualname__", 2)

