"""Type names used in ``component.yml`` and the Python types they stand for.

A name is resolved, in order, as:

1. a basic name of this module (``Double``, ``Int``, ``String``, ``Bool``, ``Bytes``,
   ``Image``, ``Tensor``, ``Json``, ``Any`` ...; see :data:`BASIC_TYPES`);
2. ``List[T]`` / ``[T]`` (a list) or ``(A, B, ...)`` (a fixed-length tuple);
3. a versioned payload-type name of the type registry (contains ``/``, for example
   ``retriever/spatial/v1/Pose``);
4. an import path ``package.module:Class`` (or ``package.module.Class``), for instance
   an ``@io`` envelope or a dataclass of your own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from retriever.contract.errors import IRError
from retriever.ir.resolve import import_for
from retriever.types.errors import TypeRegistryError
from retriever.types.registry import lookup as registry_lookup

from .errors import ComponentError

#: Basic type names and the Python types their values have.
BASIC_TYPES: dict[str, Any] = {
    "Double": float, "Float": float, "Float32": float, "Float64": float, "Number": float,
    "Int": int, "Integer": int, "Int8": int, "Int16": int, "Int32": int, "Int64": int,
    "UInt8": int, "UInt16": int, "UInt32": int, "UInt64": int,
    "Bool": bool, "Boolean": bool,
    "String": str, "Str": str, "Text": str,
    "Bytes": bytes,
    "Image": np.ndarray, "Tensor": np.ndarray, "Array": np.ndarray, "Audio": np.ndarray,
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
        hint=f"use a basic type ({known}), a registered payload-type name such as "
             "'retriever/spatial/v1/Pose', or an import path 'package.module:Class'")


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
