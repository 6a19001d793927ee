"""The table of backend factories, by name.

Kept apart from :mod:`retriever.rt.execute` (which looks backends up here) and free of
imports, so that registering a backend costs nothing: every dora node process imports
the dora backend's package, which registers the backend, and a node has no use for the
owner's side of a run (validation, graph checks, reports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..report import RunHandle

    BackendFactory = Callable[..., RunHandle]
else:
    BackendFactory = Callable[..., Any]

BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register a backend factory ``factory(graph, *, duration, live, **options)``."""
    BACKENDS[name] = factory
