"""The pipeline registry: named factories that build a graph on demand.

::

    @register_pipeline("perception")
    def perception() -> IR:
        pipe = Pipeline("perception")
        ...
        return pipe.validate()

A factory returns an ``IR`` (preferred: it is validated where it is built), a
``Pipeline`` or a lower-level ``PipelineBuilder``, which :func:`build_ir` validates and
lowers. Factories are called only
when a graph is asked for, never at registration. Entry-point plugins
(:mod:`retriever.plugins`) are loaded on the first lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from retriever.contract.errors import RetrieverError
from retriever.flow.builder import PipelineBuilder
from retriever.ir.lower import lower
from retriever.ir.model import IR
from retriever.plugins import load_plugins

Factory = Callable[[], Any]
F = TypeVar("F", bound=Callable[[], Any])


class RegistryError(RetrieverError):
    """A pipeline name is unknown or taken, or a factory returned the wrong thing."""

    code = "RET731"


@dataclass(frozen=True)
class PipelineEntry:
    """A registered pipeline: its name, factory and one-line description."""

    name: str
    factory: Factory
    description: str = ""

    @property
    def origin(self) -> str:
        """``module:qualname`` of the factory."""
        module = getattr(self.factory, "__module__", "?")
        qual = getattr(self.factory, "__qualname__", repr(self.factory))
        return f"{module}:{qual}"


_lock = threading.RLock()
_entries: dict[str, PipelineEntry] = {}


def _same_factory(a: Factory, b: Factory) -> bool:
    # A module imported again (reload, or under a second name) re-registers a new
    # function object with the same identity: that replaces the entry.
    return a is b or (
        getattr(a, "__module__", None) == getattr(b, "__module__", object())
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", object()))


def register_pipeline(name: str, *, description: str | None = None) -> Callable[[F], F]:
    """Decorator registering a zero-argument factory under ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"pipeline name {name!r} must be a non-empty string")

    def decorate(factory: F) -> F:
        if not callable(factory):
            raise RegistryError(f"@register_pipeline({name!r}) needs a callable factory")
        doc = description
        if doc is None:
            doc = ((getattr(factory, "__doc__", None) or "").strip().splitlines() or [""])[0]
        with _lock:
            old = _entries.get(name)
            if old is not None and not _same_factory(old.factory, factory):
                raise RegistryError(
                    f"pipeline name {name!r} is already registered by {old.origin}",
                    hint="choose another name, or unregister_pipeline() the old one")
            _entries[name] = PipelineEntry(name, factory, doc)
        return factory

    return decorate


def unregister_pipeline(name: str) -> None:
    """Remove a registration (no error if ``name`` is not registered)."""
    with _lock:
        _entries.pop(name, None)


def registered_entries() -> list[PipelineEntry]:
    """Every registration made so far, without loading plugins (used by the checker)."""
    with _lock:
        return [_entries[n] for n in sorted(_entries)]


def list_pipelines() -> list[PipelineEntry]:
    """Every registered pipeline, sorted by name (plugins loaded first)."""
    load_plugins()
    return registered_entries()


def get_pipeline(name: str) -> PipelineEntry:
    """The registration called ``name`` (plugins loaded first)."""
    load_plugins()
    with _lock:
        entry = _entries.get(name)
        known = sorted(_entries)
    if entry is None:
        raise RegistryError(
            f"no pipeline is registered as {name!r}",
            hint="registered: " + (", ".join(known) or "none")
                 + "; register one with @register_pipeline(name)")
    return entry


def build(entry: PipelineEntry) -> IR | PipelineBuilder:
    """Call ``entry``'s factory and check that it returned an IR or a graph (a
    ``Pipeline`` or ``PipelineBuilder``)."""
    result = entry.factory()
    if not isinstance(result, (IR, PipelineBuilder)):
        raise RegistryError(
            f"the factory of pipeline {entry.name!r} ({entry.origin}) returned "
            f"{type(result).__name__}, not an IR, a Pipeline or a PipelineBuilder",
            hint="return pipe.validate() (an IR) or the Pipeline/PipelineBuilder itself")
    return result


def build_ir(name: str, *, strict_single_io: bool = False) -> IR:
    """The IR of the pipeline registered as ``name`` (a graph is validated first)."""
    result = build(get_pipeline(name))
    if isinstance(result, PipelineBuilder):
        return lower(result, strict_single_io=strict_single_io)
    return result
