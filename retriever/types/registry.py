"""The payload-type registry and JSON Schema generation.

Every shared payload type has a versioned name ``<namespace>/.../v<N>/<TypeName>``, such as
``retriever/spatial/v1/Pose``. A new, incompatible layout gets a new version segment, so a
reader can tell which layout a recording or a foreign node speaks. Register your own types
with ``@register_type("acme/perception/v1/Detection")``.

:func:`json_schema` describes the JSON form produced by :func:`to_jsonable` (see
:mod:`retriever.types.jsonable` for the exact encoding, numpy arrays included) as a
JSON Schema, draft 2020-12, for any registered type, dataclass or ``@io`` envelope.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import importlib
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import numpy as np

from .errors import JsonCodecError, SchemaError, TypeRegistryError
from .jsonable import array_from_jsonable, array_to_jsonable, field_hints, to_jsonable
from .jsonable import from_jsonable as _from_jsonable

__all__ = [
    "DRAFT",
    "array_from_jsonable",
    "array_to_jsonable",
    "from_jsonable",
    "json_schema",
    "lookup",
    "name_of",
    "register_type",
    "registered",
    "to_jsonable",
    "unregister",
]

T = TypeVar("T")

#: The JSON Schema dialect of every generated schema.
DRAFT = "https://json-schema.org/draft/2020-12/schema"

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*(/[a-z][a-z0-9_.-]*)*/v[0-9]+/[A-Za-z_][A-Za-z0-9_]*$")
#: Modules that register the shipped types; imported on demand by :func:`lookup`.
SHIPPED_MODULES = ("retriever.types.spatial", "retriever.types.data", "retriever.types.vision",
                   "retriever.types.pointcloud")

_by_name: dict[str, type] = {}
_by_class: dict[type, str] = {}


def register_type(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a payload type under the versioned ``name``.

    Registering the same class under the same name again is allowed (module reloads);
    a name taken by another class, or a class already registered under another name,
    raises :class:`TypeRegistryError`.
    """
    if not _NAME.match(name):
        raise TypeRegistryError(
            f"{name!r} is not a versioned type name",
            hint="use lower-case path segments, a version segment and the type name, "
                 "e.g. 'acme/perception/v1/Detection'",
            code="RET702")

    def wrap(cls: type[T]) -> type[T]:
        if not isinstance(cls, type):
            raise TypeRegistryError(f"register_type({name!r}) needs a class, got {cls!r}")
        known = _by_name.get(name)
        if known is not None and _ident(known) != _ident(cls):
            raise TypeRegistryError(
                f"type name {name!r} is already registered for {_ident(known)}",
                hint="pick another name or bump the version segment", code="RET703")
        previous = _by_class.get(cls)
        if previous is not None and previous != name:
            raise TypeRegistryError(f"{_ident(cls)} is already registered as {previous!r}",
                                    code="RET703")
        if known is not None:
            _by_class.pop(known, None)
        _by_name[name] = cls
        _by_class[cls] = name
        return cls

    return wrap


def from_jsonable(data: Any, tp: Any, where: str = "value") -> Any:
    """Rebuild a value from its JSON form; ``tp`` may also be a registered name.

    See :func:`retriever.types.jsonable.from_jsonable`.
    """
    return _from_jsonable(data, lookup(tp) if isinstance(tp, str) else tp, where)


def unregister(name: str) -> None:
    """Remove a registration (mainly for tests); unknown names are an error."""
    cls = _by_name.pop(name, None)
    if cls is None:
        raise TypeRegistryError(f"no type is registered as {name!r}")
    _by_class.pop(cls, None)


def lookup(name: str) -> type:
    """The class registered under ``name`` (shipped types are loaded on demand)."""
    cls = _by_name.get(name)
    if cls is None and name.startswith("retriever/"):
        _load_shipped()
        cls = _by_name.get(name)
    if cls is None:
        close = [n for n in _by_name if n.rsplit("/", 1)[-1] == name.rsplit("/", 1)[-1]]
        raise TypeRegistryError(
            f"no type is registered as {name!r}",
            hint=("did you mean " + ", ".join(sorted(close)) + "?") if close
            else "import the module that registers it, or list names with registered()")
    return cls


def name_of(cls: type) -> str | None:
    """The registered name of ``cls``, or ``None`` when it is not registered."""
    return _by_class.get(cls)


def registered(prefix: str = "") -> dict[str, type]:
    """All registrations whose name starts with ``prefix``, sorted by name.

    The shipped types are always included (their modules are imported first).
    """
    _load_shipped()
    return {n: c for n, c in sorted(_by_name.items()) if n.startswith(prefix)}


def _load_shipped() -> None:
    for module in SHIPPED_MODULES:
        importlib.import_module(module)


def _ident(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ------------------------------------------------------------------------ JSON Schema

_FLOAT = {"type": ["number", "string"], "pattern": "^(NaN|Infinity|-Infinity)$"}
_NDARRAY = {
    "type": "object",
    "description": "numpy array: dtype (array-interface type string), shape, and the raw "
                   "C-order element bytes as base64",
    "properties": {
        "dtype": {"type": "string", "pattern": "^[<>|=]([biufc][0-9]+|[SU][0-9]+)$"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
    "required": ["dtype", "shape", "data"],
    "additionalProperties": False,
}


def json_schema(tp: Any) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the JSON form of ``tp``.

    ``tp`` may be a registered name, a class (registered type, dataclass, ``@io``
    envelope, pydantic model) or an annotation such as ``list[float]``. Nested
    dataclasses are placed under ``$defs`` and referenced. Every dataclass field is
    listed as required because :func:`to_jsonable` always writes every field; fields
    that may hold ``None`` (``Optional`` annotations, and fields whose default is
    ``None``, such as the ports of ``@io`` envelopes) also accept ``null``.
    """
    if isinstance(tp, str):
        tp = lookup(tp)
    gen = _Generator()
    body = gen.schema(tp, "type")
    out: dict[str, Any] = {"$schema": DRAFT}
    if isinstance(tp, type) and "$ref" in body:
        key = body["$ref"].rsplit("/", 1)[-1]
        root = gen.defs.pop(key)
        out.update(root)
        out = _retarget(out, key)
        gen.defs = {k: _retarget(v, key) for k, v in gen.defs.items()}
    else:
        out.update(body)
    if gen.defs:
        out["$defs"] = dict(sorted(gen.defs.items()))
    return out


def _retarget(node: Any, key: str) -> Any:
    """Point references to the root definition at ``#`` (the root is that definition)."""
    if isinstance(node, dict):
        if node.get("$ref") == f"#/$defs/{key}":
            return {**node, "$ref": "#"}
        return {k: _retarget(v, key) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v, key) for v in node]
    return node


def def_key(cls: type) -> str:
    """The ``$defs`` key of a class: its registered name with ``.`` for ``/``."""
    name = name_of(cls)
    return name.replace("/", ".") if name else _ident(cls)


class _Generator:
    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._keys: dict[type, str] = {}

    def schema(self, tp: Any, where: str) -> dict[str, Any]:
        if tp is Any or tp is object:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return self.schema(typing.get_args(tp)[0], where)
        if origin in (typing.Union, types.UnionType):
            return self._union(typing.get_args(tp), where)
        if origin is typing.Literal:
            return {"enum": [to_jsonable(a) for a in typing.get_args(tp)]}
        if tp is np.ndarray or origin is np.ndarray:
            return self._ndarray(tp)
        if origin is not None:
            return self._generic(origin, typing.get_args(tp), where)
        if isinstance(tp, type):
            return self._class(tp, where)
        raise SchemaError(f"{where}: no JSON Schema for the annotation {tp!r}")

    def _union(self, args: tuple[Any, ...], where: str) -> dict[str, Any]:
        return {"anyOf": [self.schema(a, where) for a in args]}

    def _ndarray(self, tp: Any) -> dict[str, Any]:
        out = dict(_NDARRAY)
        dtype = _annotated_dtype(tp)
        if dtype is not None:
            out["description"] = f"numpy array of {dtype.name} ({dtype.str}); " + str(
                _NDARRAY["description"]).split(": ", 1)[1]
        return out

    def _generic(self, origin: Any, args: tuple[Any, ...], where: str) -> dict[str, Any]:
        if origin in (list, set, frozenset, Sequence, typing.Sequence):
            inner = self.schema(args[0], where) if args else {}
            return {"type": "array", "items": inner}
        if origin is tuple:
            if not args:
                return {"type": "array"}
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema(args[0], where)}
            return {"type": "array", "prefixItems": [self.schema(a, where) for a in args],
                    "items": False, "minItems": len(args)}
        if origin in (dict, Mapping):
            inner = self.schema(args[1], where) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": inner}
        raise SchemaError(f"{where}: no JSON Schema for the generic type {origin!r}")

    def _class(self, cls: type, where: str) -> dict[str, Any]:
        simple = _SIMPLE.get(cls)
        if simple is not None:
            return dict(simple)
        if issubclass(cls, enum.Enum):
            return {"enum": [to_jsonable(m.value) for m in cls]}
        if cls in (list, tuple, set, frozenset, dict):
            return self._generic(cls, (), where)
        if dataclasses.is_dataclass(cls):
            return self._ref(cls, where)
        if callable(getattr(cls, "model_json_schema", None)):
            return self._pydantic(cls)
        if issubclass(cls, msgspec.Struct):
            return self._fields_ref(cls, typing.get_type_hints(cls), where)
        for base, schema in _TEXTUAL:
            if issubclass(cls, base):
                return dict(schema)
        raise SchemaError(
            f"{where}: no JSON Schema for {_ident(cls)}",
            hint="use JSON-like types, numpy arrays, dataclasses or @io envelopes; "
                 "other classes have no JSON form")

    def _ref(self, cls: type, where: str) -> dict[str, Any]:
        key = self._keys.get(cls)
        if key is None:
            key = def_key(cls)
            if key in self.defs:
                raise SchemaError(f"two different classes share the schema key {key!r}")
            self._keys[cls] = key
            self.defs[key] = {}  # placeholder: recursive references resolve to it
            self.defs[key] = self._dataclass(cls, where)
        return {"$ref": f"#/$defs/{key}"}

    def _dataclass(self, cls: type, where: str) -> dict[str, Any]:
        try:
            hints = field_hints(cls)
        except JsonCodecError as exc:
            raise SchemaError(exc.message, hint=exc.hint) from exc
        props: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            sub = self.schema(hints[f.name], f"{where}.{f.name}")
            if f.default is None and not _accepts_null(sub):
                sub = {"anyOf": [sub, {"type": "null"}]}
            props[f.name] = sub
        out: dict[str, Any] = {"type": "object", "title": name_of(cls) or cls.__qualname__}
        doc = _first_line(cls.__doc__)
        if doc.startswith(cls.__name__ + "("):
            doc = ""  # the signature dataclasses write when there is no docstring
        if doc:
            out["description"] = doc
        out["properties"] = props
        out["required"] = list(props)
        out["additionalProperties"] = False
        return out

    def _fields_ref(self, cls: type, hints: Mapping[str, Any], where: str) -> dict[str, Any]:
        """An object schema built field by field (msgspec structs; pydantic models with
        fields pydantic has no schema for, such as numpy arrays)."""
        key = self._keys.get(cls) or def_key(cls)
        if key not in self.defs:
            self._keys[cls] = key
            self.defs[key] = {}  # placeholder for recursive references
            props = {name: self.schema(tp, f"{where}.{name}") for name, tp in hints.items()}
            self.defs[key] = {"type": "object", "title": name_of(cls) or cls.__qualname__,
                              "properties": props, "required": list(props),
                              "additionalProperties": False}
        return {"$ref": f"#/$defs/{key}"}

    def _pydantic(self, cls: Any) -> dict[str, Any]:
        key = self._keys.get(cls) or _ident(cls)
        if key not in self.defs:
            try:
                schema = cls.model_json_schema(ref_template="#/$defs/{model}")
            except RuntimeError:  # a field pydantic has no schema for (PydanticUserError)
                hints = {k: f.annotation for k, f in cls.model_fields.items()}
                return self._fields_ref(cls, hints, _ident(cls))
            self._keys[cls] = key
            for name, sub in schema.pop("$defs", {}).items():
                self.defs.setdefault(name, sub)
            self.defs[key] = schema
        return {"$ref": f"#/$defs/{key}"}


#: Values written as text (or seconds) in the JSON form, by base class (subclasses first).
_TEXTUAL: tuple[tuple[type, dict[str, Any]], ...] = (
    (datetime.datetime, {"type": "string", "format": "date-time"}),
    (datetime.date, {"type": "string", "format": "date"}),
    (datetime.time, {"type": "string", "format": "time"}),
    (datetime.timedelta, {"type": "number", "description": "a duration in seconds"}),
    (uuid.UUID, {"type": "string", "format": "uuid"}),
    (decimal.Decimal, {"type": "string", "description": "a decimal number as text"}),
)

_SIMPLE: dict[type, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: _FLOAT,
    str: {"type": "string"},
    bytes: {"type": "string", "contentEncoding": "base64"},
}


def _accepts_null(schema: Mapping[str, Any]) -> bool:
    if schema == {}:
        return True
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(s) for s in schema.get("anyOf", ()))


def _annotated_dtype(tp: Any) -> np.dtype[Any] | None:
    args = typing.get_args(tp)
    if len(args) != 2:
        return None
    dargs = typing.get_args(args[1])
    if not dargs or not isinstance(dargs[0], type) or not issubclass(dargs[0], np.generic):
        return None
    try:
        return np.dtype(dargs[0])
    except TypeError:
        return None


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""

