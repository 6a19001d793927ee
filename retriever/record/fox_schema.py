"""JSON Schemas for MCAP channels that Foxglove's JSON Schema parser accepts.

Foxglove turns a channel's JSON Schema into its message definitions and is strict
about it: every property needs exactly one ``type`` (no ``$ref``, no ``anyOf``, no list
of types such as ``["number", "string"]``), objects need ``properties``, array items
need a single type and cannot be arrays themselves, and base64 text cannot be an array
item. :func:`flat_schema` describes a port type under those rules, with nested
dataclasses written out in place, or returns None when the type cannot be described
that way (``Any``, unions of different kinds, ``dict[str, X]``, lists of lists,
recursive dataclasses, ...). Such a port is written as JSON text instead
(:func:`text_schema`): one string property ``json`` holding the value's JSON form, which
Foxglove shows as text.

Non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` in a ``number`` field (JSON has no spelling for them); the schema's
description says so.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Sequence
from typing import Any

import numpy as np

from retriever.types.errors import JsonCodecError
from retriever.types.jsonable import field_hints
from retriever.types.registry import DRAFT, name_of

_NUMBER = {"type": "number",
           "description": "a float; NaN and infinities are written as the strings "
                          "\"NaN\", \"Infinity\", \"-Infinity\""}
_ARRAY = {"type": "object",
          "description": "numpy array: dtype (array-interface type string), shape, and the "
                         "raw C-order element bytes as base64",
          "properties": {
              "dtype": {"type": "string", "pattern": "^[<>|=]([biufc][0-9]+|[SU][0-9]+)$"},
              "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
              "data": {"type": "string", "contentEncoding": "base64"}},
          "required": ["dtype", "shape", "data"], "additionalProperties": False}
_SIMPLE: dict[Any, dict[str, Any]] = {
    bool: {"type": "boolean"}, int: {"type": "integer"}, float: _NUMBER,
    str: {"type": "string"}, bytes: {"type": "string", "contentEncoding": "base64"}}
_JSON_KIND = {bool: "boolean", int: "integer", float: "number", str: "string"}


class _Unsupported(Exception):
    """The type has no schema Foxglove's parser accepts."""


def flat_schema(tp: Any) -> dict[str, Any] | None:
    """A Foxglove-compatible schema of ``tp``'s JSON form, or None when there is none."""
    try:
        return _schema(tp, ())
    except (_Unsupported, JsonCodecError):
        return None


def value_schema(title: str, description: str, inner: dict[str, Any]) -> dict[str, Any]:
    """The schema of a generic channel's messages: ``{"value": <the port value>}``."""
    return {"$schema": DRAFT, "title": title, "description": description, "type": "object",
            "properties": {"value": inner}, "required": ["value"],
            "additionalProperties": False}


def text_schema(title: str, description: str) -> dict[str, Any]:
    """The schema of a channel whose values are written as JSON text: ``{"json": str}``."""
    return {"$schema": DRAFT, "title": title, "type": "object",
            "description": description + " (written as JSON text: its type has no schema "
                                         "Foxglove's parser accepts)",
            "properties": {"json": {"type": "string",
                                    "description": "the value's JSON form, as text"}},
            "required": ["json"], "additionalProperties": False}


def _schema(tp: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return dict(simple)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _schema(typing.get_args(tp)[0], seen)
    if tp is np.ndarray or origin is np.ndarray:
        return dict(_ARRAY)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(tp), seen)
    if origin is typing.Literal:
        return _enum(list(typing.get_args(tp)))
    if origin in (list, set, frozenset, Sequence, typing.Sequence):
        args = typing.get_args(tp)
        return _array(args[0] if args else Any, seen)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _array(args[0], seen)
        if args and all(a == args[0] for a in args):
            return {**_array(args[0], seen), "minItems": len(args), "maxItems": len(args)}
        raise _Unsupported
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum([m.value for m in tp])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, seen)
    raise _Unsupported  # Any, dicts, pydantic models, other classes


def _union(args: tuple[Any, ...], seen: tuple[type, ...]) -> dict[str, Any]:
    members = [a for a in args if a is not type(None)]
    if set(members) == {int, float}:
        return dict(_NUMBER)
    if len(members) != 1:
        raise _Unsupported
    return _schema(members[0], seen)  # Optional[X]: a null shows as an empty field


def _enum(values: list[Any]) -> dict[str, Any]:
    kinds = {_JSON_KIND.get(type(v)) for v in values}
    if len(kinds) != 1 or None in kinds:
        raise _Unsupported
    return {"type": kinds.pop(), "enum": values}


def _array(item_tp: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    item = _schema(item_tp, seen)
    if item.get("type") == "array" or "contentEncoding" in item:
        raise _Unsupported
    return {"type": "array", "items": item}


def _dataclass(cls: type, seen: tuple[type, ...]) -> dict[str, Any]:
    if cls in seen:
        raise _Unsupported  # recursive: cannot be written out in place
    hints = field_hints(cls)
    props = {f.name: _schema(hints[f.name], (*seen, cls)) for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {"type": "object", "title": name_of(cls) or cls.__qualname__}
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(cls.__name__ + "("):
        out["description"] = doc[0].strip()
    out["properties"] = props
    out["required"] = list(props)
    out["additionalProperties"] = False
    return out
