"""Home of the classes generated for worker flows (see :mod:`retriever.worker.flow`).

A generated class is looked up by name; an unknown name that encodes a worker flow is
rebuilt on first access, which is how another process resolves it from the IR.
"""

from __future__ import annotations

from .flow import generated_class


def __getattr__(name: str) -> type:
    if name.startswith("__"):
        raise AttributeError(name)
    return generated_class(name)
