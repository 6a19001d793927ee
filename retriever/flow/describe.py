"""Translate authored Python objects into the contract's neutral descriptions."""

from __future__ import annotations

import typing
import weakref
from dataclasses import replace
from typing import Any

from retriever.contract.diagnostics import Location
from retriever.contract.model import FlowDesc, SideDesc
from retriever.contract.signature import describe_side
from retriever.contract.typenames import class_name, type_name

from .clock import Clock


def flow_location(cls: type) -> Location:
    """Source location of a flow class (file and line), when Python knows it."""
    code = getattr(cls.__dict__.get("step"), "__code__", None)
    module = getattr(cls, "__module__", None)
    file = code.co_filename if code else None
    line = code.co_firstlineno if code else None
    del module
    return Location(file=file, line=line)


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
