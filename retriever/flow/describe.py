"""Translate authored Python objects into the contract's neutral descriptions."""

from __future__ import annotations

import ast
import os
import sys
import typing
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

from retriever.contract.access import check_accesses, step_accesses
from retriever.contract.diagnostics import Diagnostic, Location
from retriever.contract.model import FlowDesc, SideDesc
from retriever.contract.signature import describe_side
from retriever.contract.typenames import class_name, type_name

from .clock import Clock


def flow_location(cls: type) -> Location:
    """Source location of a flow class: its ``class`` line, as mypy and the checker say."""
    module = sys.modules.get(getattr(cls, "__module__", ""))
    file = getattr(module, "__file__", None) or _file_of_methods(cls)
    if not file:
        return Location()
    node = class_nodes(file).get(cls.__qualname__)
    if node is None:
        return Location(file=file)
    return Location(file=file, line=node.lineno, column=node.col_offset + 1)


def _file_of_methods(cls: type) -> str | None:
    # A module loaded without a sys.modules entry: its functions still know their file.
    for value in vars(cls).values():
        code = getattr(value, "__code__", None)
        if code is not None:
            return str(code.co_filename)
    return None


def step_location(cls: type) -> Location | None:
    """Where the class's own ``step`` is defined (its ``def`` line)."""
    code = getattr(cls.__dict__.get("step"), "__code__", None)
    if code is None:
        return None
    return Location(file=code.co_filename, line=code.co_firstlineno)


def defines_step(cls: type) -> bool:
    """Whether ``cls`` or a base class below ``Flow`` defines ``step`` (or is abstract)."""
    if getattr(cls, "__abstractmethods__", None):
        return True  # an abstract base: its subclasses are judged instead
    for klass in cls.__mro__:
        if klass.__module__ == "retriever.flow.base" and klass.__qualname__ == "Flow":
            return False
        if "step" in klass.__dict__:
            return True
    return True


_TREES: dict[tuple[str, float], dict[str, ast.ClassDef]] = {}


def class_nodes(file: str) -> dict[str, ast.ClassDef]:
    """``qualname -> ClassDef`` of every class in a source file (cached per version)."""
    try:
        stamp = os.stat(file).st_mtime
    except OSError:
        return {}
    key = (file, stamp)
    found = _TREES.get(key)
    if found is None:
        found = {}
        try:
            tree = ast.parse(Path(file).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        _index_classes(tree, "", found)
        _TREES[key] = found
    return found


def class_positions(file: str) -> dict[str, tuple[int, int]]:
    """``qualname -> (line, column)`` of every class in a source file."""
    return {q: (n.lineno, n.col_offset + 1) for q, n in class_nodes(file).items()}


def _index_classes(node: ast.AST, prefix: str, out: dict[str, ast.ClassDef]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            qual = prefix + child.name
            out.setdefault(qual, child)
            _index_classes(child, qual + ".", out)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _index_classes(child, prefix + child.name + ".<locals>.", out)
        else:
            _index_classes(child, prefix, out)


def step_access_diagnostics(cls: type, desc: FlowDesc) -> list[Diagnostic]:
    """RET003/RET006 for what the class's own ``step`` reads from its input (source)."""
    file = desc.location.file
    node = class_nodes(file).get(cls.__qualname__) if file else None
    if node is None:
        return []
    return check_accesses(desc, step_accesses(node))


def step_return_name(cls: type) -> str | None:
    """Canonical name of ``step``'s return annotation, if it declares one."""
    fn = cls.__dict__.get("step")
    if fn is None:
        return None
    ann = getattr(fn, "__annotations__", {}).get("return", None)
    if ann is None:
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotation: nothing to compare
        return None
    tp = hints.get("return")
    if tp is None:
        return None
    if typing.get_origin(tp) is tuple:
        return "tuple[" + ", ".join(_el(a) for a in typing.get_args(tp)) + "]"
    return type_name(tp)


def _el(tp: Any) -> str:
    return class_name(tp) if isinstance(tp, type) else type_name(tp)


_EMPTY = SideDesc(())
# Descriptions depend only on the class; big graphs describe the same class many times.
_CLASS_CACHE: weakref.WeakKeyDictionary[type, FlowDesc] = weakref.WeakKeyDictionary()


def _class_desc(cls: type) -> FlowDesc:
    cached = _CLASS_CACHE.get(cls)
    if cached is not None and cls.__dict__.get("__retriever_signature__", None) is not None:
        return cached
    sig = getattr(cls, "__retriever_signature__", None)
    desc = FlowDesc(
        name=cls.__qualname__,
        inputs=describe_side(sig.inputs) if sig else _EMPTY,
        outputs=describe_side(sig.outputs) if sig else _EMPTY,
        location=flow_location(cls),
        step_return=step_return_name(cls),
        has_step=defines_step(cls),
        step_location=step_location(cls),
    )
    _CLASS_CACHE[cls] = desc
    return desc


def describe_flow(cls: type, name: str | None = None, clock: Clock | None = None,
                  location: Location | None = None) -> FlowDesc:
    """The :class:`FlowDesc` of a flow class (with its clock, when attached)."""
    base = _class_desc(cls)
    return replace(
        base,
        name=name or cls.__qualname__,
        location=location or base.location,
        trigger_fields=tuple(clock.trigger) if clock else (),
        clock=clock.kind if clock else None,
    )
