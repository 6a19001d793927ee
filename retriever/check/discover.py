"""Finding what a checked module defines: flow classes and pipelines."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from retriever.flow.base import Flow
from retriever.flow.builder import PipelineBuilder
from retriever.flow.temporal import TemporalFlow

#: How deep containers (lists, dicts, ...) held by module globals are searched.
MAX_DEPTH = 3


def all_flow_classes() -> list[type]:
    """Every ``Flow`` subclass alive in this process (any depth), in definition order."""
    seen: dict[int, type] = {}
    stack: list[type] = [Flow]
    while stack:
        cls = stack.pop()
        subclasses: list[type] = type.__subclasses__(cls)
        for sub in subclasses:
            if id(sub) not in seen:
                seen[id(sub)] = sub
                stack.append(sub)
    return list(seen.values())


def defining_file(cls: type, known: dict[str, Path] | None = None) -> Path | None:
    """The resolved source file of the module that defines ``cls``.

    ``known`` maps module names to files for modules no longer in ``sys.modules``
    (a checked module whose import failed half-way still defined some classes).
    """
    name = getattr(cls, "__module__", "")
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file is None and known is not None and name in known:
        return known[name]
    try:
        return Path(file).resolve() if file else None
    except OSError:
        return None


def flow_classes_in(files: set[Path], known: dict[str, Path] | None = None) -> list[type]:
    """Flow classes defined in ``files``: nested ones and subclasses of subclasses too.

    A class imported into several checked modules is listed once.
    """
    return [cls for cls in all_flow_classes() if defining_file(cls, known) in files]


def _pipelines(value: Any, depth: int) -> Iterator[PipelineBuilder]:
    if isinstance(value, PipelineBuilder):
        yield value
    elif isinstance(value, TemporalFlow):
        if isinstance(value.pipeline, PipelineBuilder):
            yield value.pipeline
    elif depth < MAX_DEPTH and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _pipelines(item, depth + 1)
    elif depth < MAX_DEPTH and isinstance(value, dict):
        for item in value.values():
            yield from _pipelines(item, depth + 1)


def module_pipelines(module: ModuleType) -> list[tuple[str, PipelineBuilder]]:
    """``(global name, pipeline)`` for every pipeline reachable from the module's globals.

    Reachable means: a global pipeline, a flow handle added to one, or either held in a
    list, tuple, set or dict value (a few levels deep). Each pipeline is listed once.
    """
    out: list[tuple[str, PipelineBuilder]] = []
    seen: set[int] = set()
    for name, value in list(vars(module).items()):
        if name.startswith("__") or isinstance(value, (ModuleType, type)):
            continue
        for pipe in _pipelines(value, 0):
            if id(pipe) not in seen:
                seen.add(id(pipe))
                out.append((name, pipe))
    return out
