"""The seam between authoring and the runtime (dependency inversion).

``Pipeline.validate/run/step/record/replay`` are runtime work. The IR and runtime
layers register their implementations here when ``retriever`` is imported, so the
authoring layer never imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from retriever.contract.errors import RetrieverError

_SERVICES: dict[str, Callable[..., Any]] = {}
# Modules that register services when imported, loaded on first need (by name, like
# plugins), so authoring never imports the runtime and `import retriever` stays light.
PROVIDERS: tuple[str, ...] = ("retriever.ir", "retriever.rt", "retriever.record")


def register_service(name: str, fn: Callable[..., Any]) -> None:
    """Register the implementation of a facade operation (by the ir/rt layers)."""
    _SERVICES[name] = fn


def service(name: str) -> Callable[..., Any]:
    """The registered implementation of ``name`` (loading the providers if needed)."""
    if name not in _SERVICES:
        for module in PROVIDERS:
            importlib.import_module(module)
    try:
        return _SERVICES[name]
    except KeyError:
        raise RetrieverError(
            f"no implementation registered for Pipeline.{name}()",
            hint="import retriever (the package __init__ installs the runtime)",
        ) from None
