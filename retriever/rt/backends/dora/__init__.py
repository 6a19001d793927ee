"""The dora backend: run an execution graph as a dora-rs dataflow.

Importing this package registers the ``"dora"`` backend; it needs neither dora nor
pyarrow until a run starts (then a missing piece raises
:class:`~retriever.contract.errors.MissingDependencyError` naming the ``dora`` extra).
Supported: dora-rs and dora-rs-cli ``>= 1.0, < 2`` with matching versions (tested with
1.1.0). See ``docs/backends-dora.md``.

The package imports nothing else itself (the backend table is a module of its own):
every dora node process imports :mod:`.runner` through it, and a node needs none of
the owner's side (running a graph, launching, watching, cleaning up), so that side is
loaded when a run starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..registry import register_backend

if TYPE_CHECKING:
    from .backend import DoraRun
    from .compat import SUPPORTED, check_install
    from .compile import compile_dataflow, plan_dataflow

_EXPORTS = {"DoraRun": ".backend", "SUPPORTED": ".compat", "check_install": ".compat",
            "compile_dataflow": ".compile", "plan_dataflow": ".compile"}


def _start(*args: Any, **kwargs: Any) -> Any:
    """The backend factory: a :class:`DoraRun` (its module is loaded on first use)."""
    from .backend import DoraRun  # the owner's side only; nodes never load it

    return DoraRun(*args, **kwargs)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


register_backend("dora", _start)

__all__ = ["SUPPORTED", "DoraRun", "check_install", "compile_dataflow", "plan_dataflow"]
