"""Which port types can travel: between processes, to dora and into recordings.

A port value travels when retriever can encode it without pickle: numbers, text,
bytes, ``None``; numpy arrays and scalars; lists, tuples, sets and string-keyed dicts of
travelling values; dataclasses and ``@io`` envelopes, pydantic v2 models,
``msgspec.Struct`` classes; enums, ``datetime`` / ``date`` / ``time`` / ``timedelta``,
``UUID`` and ``Decimal``. Containers and unions are looked into; classes are judged by
their kind (the fields of a dataclass are the receiving side's business). Anything else
— a lock, a socket, a callable, an arbitrary class — is refused by the contract (RET008)
before a graph runs, on every front end.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

#: Full names of classes that travel as they are (mypy and runtime spellings).
TRAVELLING_NAMES = frozenset({
    "builtins.int", "builtins.float", "builtins.str", "builtins.bool", "builtins.bytes",
    "builtins.object", "numpy.ndarray", "datetime.datetime", "datetime.date",
    "datetime.time", "datetime.timedelta", "uuid.UUID", "decimal.Decimal",
})
#: Base classes whose subclasses travel (by full name, as mypy sees them).
TRAVELLING_BASES = frozenset({
    "pydantic.main.BaseModel", "msgspec.Struct", "enum.Enum", "numpy.generic",
    "numpy.ndarray",
})
#: Containers whose type arguments are looked into.
CONTAINER_NAMES = frozenset({
    "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset", "builtins.dict",
    "typing.Sequence", "typing.Mapping", "typing.MutableSequence", "typing.MutableMapping",
    "collections.abc.Sequence", "collections.abc.Mapping", "collections.abc.MutableSequence",
    "collections.abc.MutableMapping", "typing.AbstractSet", "collections.abc.Set",
})

_SIMPLE = (int, float, str, bool, bytes, type(None), datetime.date, datetime.time,
           datetime.timedelta, uuid.UUID, decimal.Decimal, enum.Enum)


def _travels_class(tp: type) -> bool:
    if tp is object or issubclass(tp, _SIMPLE) or dataclasses.is_dataclass(tp):
        return True
    names = {f"{b.__module__}.{b.__qualname__}" for b in tp.__mro__}
    return bool(names & (TRAVELLING_BASES | {"numpy.generic", "numpy.ndarray"}))


def untravelable(tp: Any) -> Any | None:
    """The part of annotation ``tp`` that cannot travel, or None when all of it can."""
    if tp is None or tp is Any or isinstance(tp, (typing.TypeVar, str)):
        return None
    origin = typing.get_origin(tp)
    if origin is not None:
        if origin is typing.Literal:
            return None
        if origin in (Callable, typing.Callable):
            return tp
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            args = args[:1]
        elif origin in (typing.Union, types.UnionType):
            pass  # every member must travel
        elif isinstance(origin, type) and not (origin in (list, tuple, set, frozenset, dict)
                                               or _travels_class(origin)
                                               or _is_abc_container(origin)):
            return tp
        for arg in args:
            if arg is Ellipsis:
                continue
            bad = untravelable(arg)
            if bad is not None:
                return bad
        return None
    if isinstance(tp, type):
        return None if _travels_class(tp) else tp
    return None  # forward references and other spellings: judged where they resolve


def _is_abc_container(origin: type) -> bool:
    return f"{origin.__module__}.{origin.__qualname__}" in CONTAINER_NAMES
