"""The JSON form of payload values, shared by MCAP JSON channels and the type schemas.

:func:`to_jsonable` turns a value into plain JSON data and :func:`from_jsonable` rebuilds
it from that data and the declared type. :func:`retriever.types.registry.json_schema`
describes exactly this form, so a recording's channel schema and its messages agree.

The encoding, rule by rule:

* ``None`` -> ``null`` (kept, never dropped: an envelope port that carried nothing is
  written as ``null``).
* ``bool``, ``int``, ``str`` -> themselves. Integers are not bounded (nanosecond stamps
  exceed 2**53; readers in JavaScript must parse them as big integers).
* ``float`` -> a JSON number; the non-finite values, which JSON cannot spell, become the
  strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
* ``bytes`` -> standard base64 text (RFC 4648, with padding).
* dataclasses and ``@io`` envelopes -> an object with **every** field, in declaration
  order (fields holding ``None`` included as ``null``).
* ``numpy.ndarray`` -> ``{"dtype": str, "shape": [int, ...], "data": str}`` where
  ``dtype`` is numpy's array-interface type string (byte order + kind + item size, e.g.
  ``"<f8"`` for little-endian float64, ``"|u1"`` for bytes, ``"<U5"`` for text), ``shape``
  lists the dimensions, and ``data`` is the base64 of the raw element bytes in C
  (row-major) order, in the byte order ``dtype`` states. Decoding yields an array with
  the very same dtype, shape and bits (NaN payloads included). Object arrays are refused.
* numpy scalars -> the equivalent Python number; tuples and lists -> arrays; dicts with
  string keys -> objects; enums -> their value; pydantic models -> their JSON dump.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import math
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from retriever.contract.arrays import (
    ENCODABLE_KINDS,
    array_bytes,
    array_header,
    array_view,
    expected_size,
)
from retriever.contract.envelope import declared_type_hints, is_envelope

from .errors import JsonCodecError

__all__ = ["NONFINITE", "array_from_jsonable", "array_to_jsonable", "from_jsonable",
           "to_jsonable"]

#: The strings that stand for non-finite floats in the JSON form.
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ALLOWED_KINDS = ENCODABLE_KINDS


def array_to_jsonable(arr: np.ndarray, where: str = "value", *,
                      binary: bool = False) -> dict[str, Any]:
    """The JSON form of one numpy array (see the module docstring).

    ``binary=True`` leaves ``data`` as a buffer of the raw bytes (no copy when the
    array is contiguous), for an encoder that writes bytes as base64 itself, as
    ``msgspec.json`` does: the same text, without the intermediate copies."""
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise JsonCodecError(f"{where}: numpy arrays of dtype {arr.dtype} have no JSON form",
                             hint="use a numeric, boolean or fixed-width text dtype")
    dtype, dims = array_header(arr)
    shape = list(dims)
    if binary:
        return {"dtype": dtype, "shape": shape, "data": array_bytes(arr)}
    return {"dtype": dtype, "shape": shape,
            "data": base64.b64encode(array_bytes(arr)).decode("ascii")}


def array_from_jsonable(data: Any, where: str = "value") -> np.ndarray:
    """Rebuild a numpy array from its JSON form (a new, writable array)."""
    if not isinstance(data, Mapping) or set(data) != {"dtype", "shape", "data"}:
        raise JsonCodecError(f"{where}: expected an object with dtype, shape and data, "
                             f"got {_kind(data)}")
    try:
        dtype = np.dtype(data["dtype"])
        shape = tuple(int(s) for s in data["shape"])
        raw = base64.b64decode(data["data"], validate=True)
    except (TypeError, ValueError) as exc:
        raise JsonCodecError(f"{where}: malformed array ({exc})") from exc
    if dtype.kind not in _ALLOWED_KINDS:
        raise JsonCodecError(f"{where}: dtype {data['dtype']!r} is not allowed")
    expected = expected_size(dtype.str, shape)
    if len(raw) != expected:
        raise JsonCodecError(f"{where}: {len(raw)} data bytes for shape {list(shape)} of "
                             f"{dtype.str} (expected {expected})")
    return array_view(raw, dtype.str, shape).copy()


def to_jsonable(value: Any, where: str = "value", *, binary: bool = False) -> Any:
    """Plain JSON data (dicts, lists, str, int, float, bool, None) for ``value``.

    ``binary=True`` leaves bytes and array data as bytes-like objects for an encoder
    that writes them as base64 itself (``msgspec.json``)."""
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, enum.Enum):
            return to_jsonable(value.value, where, binary=binary)
        if isinstance(value, np.generic):  # np.bool_/np.int64 subclasses
            return value.item()
        return value
    if isinstance(value, float):
        return _float_out(value)
    if isinstance(value, np.ndarray):
        return array_to_jsonable(value, where, binary=binary)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where, binary=binary)
    if isinstance(value, (bytes, bytearray, memoryview)):
        if binary:  # a memoryview may be strided: msgspec needs contiguous bytes
            return value.tobytes() if isinstance(value, memoryview) else value
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where, binary=binary)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), f"{where}.{f.name}",
                                    binary=binary)
                for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]", binary=binary)
                for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise JsonCodecError(f"{where} has a non-string key {k!r}",
                                     hint="JSON objects need string keys")
            out[k] = to_jsonable(v, f"{where}[{k!r}]", binary=binary)
        return out
    special = _special_to_jsonable(value, where, binary)
    if special is not _NO_FORM:
        return special
    raise JsonCodecError(f"{where} of type {type(value).__name__} has no JSON form",
                         hint="use numbers, strings, lists, dicts, numpy arrays, "
                              "dataclasses or @io envelopes")


_NO_FORM = object()


def _special_to_jsonable(value: Any, where: str, binary: bool) -> Any:
    """Dates and times (ISO 8601 text; durations in seconds), UUIDs and decimals (text),
    msgspec structs (objects of their fields) and pydantic models."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, msgspec.Struct):
        return {name: to_jsonable(getattr(value, name), f"{where}.{name}", binary=binary)
                for name in value.__struct_fields__}
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic model
        try:
            return dump(mode="json")
        except (TypeError, ValueError):  # a field pydantic cannot dump (a numpy array)
            return {name: to_jsonable(getattr(value, name), f"{where}.{name}", binary=binary)
                    for name in type(value).model_fields}
    return _NO_FORM


def _special_from_jsonable(data: Any, tp: type, where: str) -> Any:
    """The inverse of :func:`_special_to_jsonable` for declared type ``tp``."""
    try:
        if issubclass(tp, (datetime.datetime, datetime.date, datetime.time)):
            return tp.fromisoformat(_need_str(data, where))
        if issubclass(tp, datetime.timedelta):
            return datetime.timedelta(seconds=_float_in(data, where))
        if issubclass(tp, (uuid.UUID, decimal.Decimal)):
            return tp(_need_str(data, where))
    except (ValueError, decimal.InvalidOperation) as exc:
        raise JsonCodecError(f"{where}: {data!r} is not a {tp.__name__}") from exc
    if issubclass(tp, msgspec.Struct):
        if not isinstance(data, Mapping):
            raise JsonCodecError(f"{where}: expected an object for {tp.__name__}")
        hints = typing.get_type_hints(tp)
        return tp(**{k: from_jsonable(v, hints.get(k, Any), f"{where}.{k}")
                     for k, v in data.items()})
    validate = getattr(tp, "model_validate", None)
    if callable(validate):  # pydantic model
        fields = getattr(tp, "model_fields", {})
        if isinstance(data, Mapping) and any(
                _has_array(getattr(f, "annotation", None)) for f in fields.values()):
            data = {k: from_jsonable(v, fields[k].annotation, f"{where}.{k}")
                    if k in fields else v for k, v in data.items()}
        return validate(data)
    return _NO_FORM


def _has_array(tp: Any) -> bool:
    return tp is np.ndarray or typing.get_origin(tp) is np.ndarray or any(
        _has_array(a) for a in typing.get_args(tp))


def _need_str(data: Any, where: str) -> str:
    if not isinstance(data, str):
        raise JsonCodecError(f"{where}: expected a string, got {_kind(data)}")
    return data


def _float_out(x: float) -> float | str:
    if math.isfinite(x):
        return float(x)  # np.float64 is a float subclass that JSON encoders refuse
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def from_jsonable(data: Any, tp: Any, where: str = "value") -> Any:
    """Rebuild a value of declared type ``tp`` from its JSON form.

    Unknown or ``Any`` types pass the data through unchanged.
    """
    if tp is Any or tp is object:
        return data
    if tp is None or tp is type(None):
        if data is not None:
            raise JsonCodecError(f"{where}: expected null, got {_kind(data)}")
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return from_jsonable(data, typing.get_args(tp)[0], where)
    if origin in (typing.Union, types.UnionType):
        return _union(data, typing.get_args(tp), where)
    if origin is typing.Literal:
        if data not in typing.get_args(tp):
            raise JsonCodecError(f"{where}: {data!r} is not one of {typing.get_args(tp)}")
        return data
    if tp is np.ndarray or origin is np.ndarray:
        return array_from_jsonable(data, where)
    if origin is not None:
        return _generic(data, origin, typing.get_args(tp), where)
    if isinstance(tp, type):
        return _plain(data, tp, where)
    return data


def _union(data: Any, args: tuple[Any, ...], where: str) -> Any:
    if data is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    errors = []
    for option in options:
        try:
            return from_jsonable(data, option, where)
        except JsonCodecError as exc:
            errors.append(exc.message)
    raise JsonCodecError(f"{where}: matches none of the union members ({'; '.join(errors)})")


def _generic(data: Any, origin: Any, args: tuple[Any, ...], where: str) -> Any:
    if origin in (list, set, frozenset) or origin in (Sequence, typing.Sequence):
        items = _need_list(data, where)
        inner = args[0] if args else Any
        out = [from_jsonable(v, inner, f"{where}[{i}]") for i, v in enumerate(items)]
        return out if origin not in (set, frozenset) else origin(out)
    if origin is tuple:
        items = _need_list(data, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
        if args and len(args) != len(items):
            raise JsonCodecError(f"{where}: expected {len(args)} items, got {len(items)}")
        kinds = args or (Any,) * len(items)
        return tuple(from_jsonable(v, t, f"{where}[{i}]")
                     for i, (v, t) in enumerate(zip(items, kinds, strict=True)))
    if origin in (dict, Mapping):
        if not isinstance(data, Mapping):
            raise JsonCodecError(f"{where}: expected an object, got {_kind(data)}")
        inner = args[1] if len(args) == 2 else Any
        return {k: from_jsonable(v, inner, f"{where}[{k!r}]") for k, v in data.items()}
    return data


def _plain(data: Any, tp: type, where: str) -> Any:
    if tp is bool:
        if not isinstance(data, bool):
            raise JsonCodecError(f"{where}: expected a boolean, got {_kind(data)}")
        return data
    if tp is int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise JsonCodecError(f"{where}: expected an integer, got {_kind(data)}")
        return data
    if tp is float:
        return _float_in(data, where)
    if tp is str:
        if not isinstance(data, str):
            raise JsonCodecError(f"{where}: expected a string, got {_kind(data)}")
        return data
    if tp is bytes:
        if not isinstance(data, str):
            raise JsonCodecError(f"{where}: expected base64 text, got {_kind(data)}")
        try:
            return base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise JsonCodecError(f"{where}: invalid base64 ({exc})") from exc
    if issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError as exc:
            raise JsonCodecError(f"{where}: {data!r} is not a {tp.__name__}") from exc
    if dataclasses.is_dataclass(tp):
        return _dataclass(data, tp, where)
    special = _special_from_jsonable(data, tp, where)
    if special is not _NO_FORM:
        return special
    if tp in (list, tuple, dict):
        return _generic(data, tp, (), where)
    return data


def _dataclass(data: Any, tp: type, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise JsonCodecError(f"{where}: expected an object for {tp.__name__}, got {_kind(data)}")
    hints = field_hints(tp)
    unknown = [k for k in data if k not in hints]
    if unknown:
        raise JsonCodecError(f"{where}: {tp.__name__} has no field(s) {', '.join(unknown)}",
                             hint=f"its fields are: {', '.join(hints)}")
    nullable = _null_default_fields(tp)
    kwargs = {k: None if v is None and k in nullable else from_jsonable(v, hints[k], f"{where}.{k}")
              for k, v in data.items()}
    return tp(**kwargs)


def _null_default_fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is None)


def _float_in(data: Any, where: str) -> float:
    if isinstance(data, bool):
        raise JsonCodecError(f"{where}: expected a number, got a boolean")
    if isinstance(data, (int, float)):
        return float(data)
    if isinstance(data, str) and data in NONFINITE:
        return NONFINITE[data]
    raise JsonCodecError(f"{where}: expected a number, got {_kind(data)}")


def _need_list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise JsonCodecError(f"{where}: expected an array, got {_kind(data)}")
    return data


def _kind(data: Any) -> str:
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) < 40 else text[:37] + '...'}"


_HINTS: dict[type, dict[str, Any]] = {}


def field_hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of a dataclass's fields, in declaration order (cached)."""
    cached = _HINTS.get(cls)
    if cached is not None:
        return cached
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
        if is_envelope(cls):  # the declared types, not the `| None` that @io adds
            hints.update(declared_type_hints(cls, include_extras=True))
    except (NameError, TypeError) as exc:
        raise JsonCodecError(f"cannot resolve the field types of {cls.__qualname__}: {exc}",
                             hint="define the class and the types it names at module "
                                  "level") from exc
    out = {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}
    _HINTS[cls] = out
    return out
