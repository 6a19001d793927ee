"""Finding the pipeline a command line names.

A spec is ``path/to/file.py:NAME``, ``package.module:NAME``, an IR file ``graph.json``
or the name of a registered pipeline. ``NAME`` may be a ``Pipeline``, an ``IR``, or a
zero-argument factory returning one. A file is imported under a private module name, so its
``if __name__ == "__main__":`` block does not run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from retriever.contract.errors import ConfigError
from retriever.flow.builder import PipelineBuilder
from retriever.flow.pipeline import Pipeline
from retriever.ir.model import IR
from retriever.ir.resolve import exec_file


def _import_file(path: Path) -> Any:
    # Import under the name other processes can import it by (package-qualified when
    # the file sits in a package), never as __main__.
    parts = [path.stem]
    top = path.parent
    while (top / "__init__.py").is_file():
        parts.insert(0, top.name)
        top = top.parent
    name = ".".join(parts)
    if str(top) not in sys.path:
        sys.path.insert(0, str(top))
    if len(parts) > 1:
        return importlib.import_module(name)
    module = exec_file(path, name)
    if module is None:
        raise ConfigError(f"cannot import {str(path)!r}")
    return module


def load_object(spec: str) -> Any:
    """The object a ``file.py:NAME`` / ``module:NAME`` spec names (factories called)."""
    if ":" in spec:
        where, attr = spec.rsplit(":", 1)
    else:
        where, attr = spec, ""
    if where.endswith(".json") and not attr:
        return IR.load(where)  # reading an IR runs nothing; running it is checked
    if where.endswith(".py") or Path(where).is_file():
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"no such file: {where!r}")
        module = _import_file(path.resolve())
    else:
        try:
            module = importlib.import_module(where)
        except ImportError:
            return _registered(spec)
    if not attr:
        candidates = [v for v in vars(module).values() if isinstance(v, (PipelineBuilder, IR))]
        if len(candidates) != 1:
            raise ConfigError(f"{where} defines {len(candidates)} pipelines",
                              hint=f"name one: {where}:NAME")
        return candidates[0]
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{where} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, (PipelineBuilder, IR)):
        obj = obj()
    return obj


def _registered(name: str) -> Any:
    try:
        registry = importlib.import_module("retriever.registry.pipeline")
    except ImportError:
        raise ConfigError(f"cannot find pipeline {name!r}",
                          hint="use path/to/file.py:NAME or package.module:NAME") from None
    return registry.build_ir(name)


def load_ir(spec: str) -> IR:
    """The validated IR of the pipeline a spec names."""
    obj = load_object(spec)
    if isinstance(obj, PipelineBuilder):
        ir = obj.validate()
        assert isinstance(ir, IR)
        return ir
    if isinstance(obj, IR):
        return obj
    raise ConfigError(f"{spec} is a {type(obj).__name__}, not a Pipeline or IR")


def load_pipeline(spec: str) -> Pipeline | IR:
    """A Pipeline (kept as authored, for in-process runs) or an IR (a bare
    ``PipelineBuilder`` is validated to one)."""
    obj = load_object(spec)
    if isinstance(obj, PipelineBuilder) and not isinstance(obj, Pipeline):
        obj = obj.validate()
    if not isinstance(obj, (Pipeline, IR)):
        raise ConfigError(f"{spec} is a {type(obj).__name__}, not a Pipeline or IR")
    return obj
