"""``execute_ir``: run an IR or ExecutionGraph on a named backend.

Backends register a factory here. The in-process backend registers itself; process
backends are imported lazily, so ``import retriever`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from retriever.contract.errors import BackendError
from retriever.ir.execution import as_execution_graph
from retriever.ir.model import IR, ExecutionGraph
from retriever.ir.resolve import allow_imports as grant_imports
from retriever.ir.resolve import allow_source_exec as grant_source_exec
from retriever.ir.resolve import check_graph

from .backends.registry import BACKENDS as _BACKENDS
from .backends.registry import BackendFactory
from .backends.registry import register_backend as register_backend  # its public home
from .options import flag, run_call
from .report import RunHandle, RunReport

_LAZY = {
    "in-process": "retriever.rt.backends.inprocess",
    "multiprocessing": "retriever.rt.backends.multiprocessing",
    "dora": "retriever.rt.backends.dora",
}
_ALIASES = {"inprocess": "in-process", "in_process": "in-process", "mp": "multiprocessing",
            "local": "multiprocessing"}


def backend_names() -> list[str]:
    """Names of the known backends."""
    return sorted(set(_BACKENDS) | set(_LAZY))


def canonical_backend(name: str) -> str:
    """The backend name an alias stands for (other names unchanged)."""
    return _ALIASES.get(name, name)


def get_backend(name: str) -> BackendFactory:
    """The factory of backend ``name`` (importing it on first use)."""
    name = canonical_backend(name)
    if name not in _BACKENDS and name in _LAZY:
        try:
            importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("retriever"):
                raise BackendError(f"backend {name!r} is not available in this version",
                                   hint="use backend='in-process'") from None
            raise
    try:
        return _BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}",
                           hint=f"known backends: {', '.join(backend_names())}") from None


def execute_ir(graph: IR | ExecutionGraph, backend: str = "multiprocessing", *,
               duration: float | None = None, blocking: bool = True,
               live: Mapping[str, Any] | None = None, policy: Any = "per-flow",
               allow_imports: Iterable[str] | bool = (), allow_source_exec: bool = False,
               **options: Any) -> RunReport | RunHandle:
    """Run ``graph`` on ``backend``.

    ``duration`` is in seconds (None: until stopped). With ``blocking=True`` the call
    returns the :class:`RunReport` when the run ends and raises the run's error (a
    :class:`FlowError` naming the flow); with ``blocking=False`` it returns a handle
    with ``stop()``, ``wait(timeout)``, ``running`` and ``report``. An IR is turned
    into an execution graph with ``policy`` first.

    An IR read from a file only names code; before anything starts, every name is
    resolved and checked (docs/trust.md). Modules that are not imported yet are imported
    only within ``allow_imports`` (package names; ``True``: any), and ``__main__``
    classes of another script are rebuilt by executing it only with
    ``allow_source_exec=True``.
    """
    run_call("execute_ir", backend, duration, blocking)
    flag(allow_source_exec, "allow_source_exec", where="execute_ir")
    eg = as_execution_graph(graph, policy)
    grant_imports(allow_imports)
    if allow_source_exec:
        grant_source_exec(n.source_file for n in eg.ir.nodes if n.source_file)
    check_graph(eg.ir.nodes)
    handle = get_backend(backend)(eg, duration=duration, live=live, **options)
    if not blocking:
        return handle
    try:
        report = handle.wait(None)
    except KeyboardInterrupt:
        handle.stop()
        raise
    assert report is not None
    return report
