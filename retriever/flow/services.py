"""The seam between authoring and the runtime (dependency inversion).

``Pipeline.validate/run/step/record/replay`` are runtime work. The IR and runtime
layers register their implementations here when ``retriever`` is imported, so the
authoring layer never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from retriever.contract.errors import RetrieverError

_SERVICES: dict[str, Callable[..., Any]] = {}


def register_service(name: str, fn: Callable[..., Any]) -> None:
    """Register the implementation of a facade operation (by the ir/rt layers)."""
    _SERVICES[name] = fn


def service(name: str) -> Callable[..., Any]:
    """The registered implementation of ``name``."""
    try:
        return _SERVICES[name]
    except KeyError:
        raise RetrieverError(
            f"no implementation registered for Pipeline.{name}()",
            hint="import retriever (the package __init__ installs the runtime)",
        ) from None
