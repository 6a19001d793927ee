"""Type names used in ``component.yml`` and the Python types they stand for.

A name is resolved, in order, as:

1. a basic name of this module (``Double``, ``Int``, ``String``, ``Bool``, ``Bytes``,
   ``Tensor``, ``Json``, ``Any`` ...; see :data:`BASIC_TYPES`);
2. the short name of a registered payload type, when exactly one registered name ends
   with it: ``Image`` and ``BoundingBox`` are ``retriever/vision/v1/Image`` and
   ``.../BoundingBox``, ``Pose`` is ``retriever/spatial/v1/Pose``;
3. ``List[T]`` / ``[T]`` (a list) or ``(A, B, ...)`` (a fixed-length tuple);
4. a versioned payload-type name of the type registry (contains ``/``, for example
   ``retriever/spatial/v1/Pose``);
5. an import path ``package.module:Class`` (or ``package.module.Class``), for instance
   an ``@io`` envelope or a dataclass of your own.

A worker may return a bare numpy array for an ``Image`` output: :func:`coerce_output`
wraps it in an ``Image`` whose encoding follows from its dtype and channels (``bgr8``
for an OpenCV colour frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from retriever.contract.errors import IRError
from retriever.ir.resolve import import_for
from retriever.types.errors import TypeRegistryError
from retriever.types.registry import lookup as registry_lookup
from retriever.types.registry import registered
from retriever.types.vision import Image

from .errors import ComponentError, WorkerError

#: Basic type names and the Python types their values have.
BASIC_TYPES: dict[str, Any] = {
    "Double": float, "Float": float, "Float32": float, "Float64": float, "Number": float,
    "Int": int, "Integer": int, "Int8": int, "Int16": int, "Int32": int, "Int64": int,
    "UInt8": int, "UInt16": int, "UInt32": int, "UInt64": int,
    "Bool": bool, "Boolean": bool,
    "String": str, "Str": str, "Text": str,
    "Bytes": bytes,
    "Tensor": np.ndarray, "Array": np.ndarray, "Audio": np.ndarray,
    "Json": dict[str, Any], "Dict": dict[str, Any],
    "Any": Any,
}


def _split_top(inner: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch in "[("
        depth -= ch in "])"
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def resolve_type(name: str, where: str = "type") -> Any:
    """The Python type ``name`` stands for; raises :class:`ComponentError` if unknown."""
    text = name.strip()
    if text in BASIC_TYPES:
        return BASIC_TYPES[text]
    short = short_payload_names().get(text)
    if short is not None:
        if len(short) > 1:
            raise ComponentError(
                f"{where}: type name {name!r} is ambiguous", code="RET871",
                hint="use the versioned name: " + ", ".join(short))
        return registry_lookup(short[0])
    if text.startswith("(") and text.endswith(")"):
        items = [resolve_type(p, where) for p in _split_top(text[1:-1])]
        if not items:
            raise ComponentError(f"{where}: empty tuple type {name!r}", code="RET871")
        return tuple.__class_getitem__(tuple(items))
    for prefix in ("List[", "list[", "["):
        if text.startswith(prefix) and text.endswith("]"):
            return list.__class_getitem__(resolve_type(text[len(prefix):-1], where))
    if "/" in text:
        try:
            return registry_lookup(text)
        except TypeRegistryError as exc:
            raise ComponentError(f"{where}: {exc.message}", hint=exc.hint,
                                 code="RET871") from None
    if ":" in text or "." in text:
        return _import_type(text, where)
    known = ", ".join(sorted(BASIC_TYPES))
    raise ComponentError(
        f"{where}: unknown type {name!r}", code="RET871",
        hint=f"use a basic type ({known}), a registered payload type ("
             + ", ".join(sorted(short_payload_names())) + ") or its versioned name such "
             "as 'retriever/spatial/v1/Pose', or an import path 'package.module:Class'")


def short_payload_names() -> dict[str, list[str]]:
    """``ShortName -> [versioned names]`` over the registered payload types."""
    out: dict[str, list[str]] = {}
    for full in registered():
        out.setdefault(full.rsplit("/", 1)[-1], []).append(full)
    return out


#: Encodings of a bare pixel array wrapped as an ``Image``: (dtype, channels) -> name.
_ARRAY_ENCODINGS = {("uint8", 1): "mono8", ("uint8", 3): "bgr8", ("uint8", 4): "bgra8",
                    ("uint16", 1): "mono16", ("float32", 1): "32FC1"}


def coerce_output(tp: Any, value: Any, where: str = "output") -> Any:
    """``value`` as a message of port type ``tp``: a numpy array returned for an
    ``Image`` port is wrapped (2D or HxWxC ``uint8`` is ``mono8``/``bgr8``/``bgra8``,
    ``uint16`` ``mono16``, ``float32`` ``32FC1``); anything else passes unchanged."""
    if tp is not Image or not isinstance(value, np.ndarray):
        return value
    channels = value.shape[2] if value.ndim == 3 else 1
    encoding = _ARRAY_ENCODINGS.get((value.dtype.name, channels))
    if value.ndim not in (2, 3) or encoding is None:
        raise WorkerError(
            f"{where}: a {value.dtype} array of shape {value.shape} is not an image",
            code="RET867",
            hint="return retriever.types.vision.Image.from_array(pixels, encoding)")
    return Image.from_array(value, encoding)


def _import_type(text: str, where: str) -> Any:
    if ":" in text:
        module_name, qual = text.split(":", 1)
    else:
        module_name, _, qual = text.rpartition(".")
    try:
        # A component may come from an IR file: its type names import modules only as
        # the trust model allows (docs/trust.md).
        obj: Any = import_for(module_name)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except IRError as exc:
        raise ComponentError(f"{where}: cannot import type {text!r}: {exc.message}",
                             code="RET871", hint=exc.hint) from None
    except (ImportError, AttributeError) as exc:
        raise ComponentError(f"{where}: cannot import type {text!r}: {exc}", code="RET871",
                             hint="check the module path and that it is importable here"
                             ) from None
    if not isinstance(obj, type):
        raise ComponentError(f"{where}: {text!r} is not a class", code="RET871")
    return obj
