"""``@io`` envelopes: classes whose annotated fields are ports.

An envelope is a dataclass whose every field is optional (defaults to ``None``): a
field that holds ``None`` carried nothing in that message. The decorator works with
or without ``@dataclass`` and is understood by type checkers (PEP 681).
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from typing_extensions import dataclass_transform

from .errors import RetrieverError

T = TypeVar("T")

_PORTS_ATTR = "__retriever_ports__"
_GENERATED = ("__init__", "__repr__", "__eq__", "__match_args__")


class EnvelopeMixin:
    """Signal accessors shared by every ``@io`` class (mixed in by the decorator)."""

    __slots__ = ()
    __retriever_ports__: typing.ClassVar[tuple[str, ...]]

    def _get_signal(self, name: str) -> Any:
        """Value of port ``name`` (``None`` when it carries nothing)."""
        if name not in type(self).__retriever_ports__:
            raise _unknown_port(type(self), name)
        return getattr(self, name)

    def _set_signal(self, name: str, value: Any) -> None:
        """Set port ``name`` to ``value``."""
        if name not in type(self).__retriever_ports__:
            raise _unknown_port(type(self), name)
        setattr(self, name, value)

    def _has_signal(self, name: str) -> bool:
        """Whether port ``name`` carries a value in this message."""
        if name not in type(self).__retriever_ports__:
            raise _unknown_port(type(self), name)
        return getattr(self, name) is not None

    def _signals(self) -> list[str]:
        """Names of the ports that carry a value, in declaration order."""
        return [n for n in type(self).__retriever_ports__ if getattr(self, n) is not None]


def _unknown_port(cls: type, name: str) -> RetrieverError:
    ports = ", ".join(getattr(cls, _PORTS_ATTR, ())) or "none"
    return RetrieverError(
        f"{cls.__name__} has no port {name!r}",
        hint=f"its ports are: {ports}",
        code="RET006",
    )


def _own_annotations(cls: type) -> dict[str, Any]:
    return dict(cls.__dict__.get("__annotations__", {}))


@overload
def io(cls: type[T], /) -> type[T]: ...
@overload
def io(cls: None = None, /) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(kw_only_default=False)
def io(cls: type[T] | None = None, /) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a flow I/O envelope: each annotated field becomes a port.

    Fields become optional and default to ``None``. The class gains ``_get_signal``,
    ``_set_signal``, ``_has_signal`` and ``_signals``.
    """

    def wrap(c: type[T]) -> type[T]:
        return _make_envelope(c)

    if cls is None:
        return wrap
    return wrap(cls)


def _make_envelope(cls: type[T]) -> type[T]:
    if cls.__dict__.get("__retriever_io__"):
        return cls  # idempotent: @io applied twice, or @dataclass over @io
    if "__dataclass_fields__" in cls.__dict__:
        # Already a dataclass (user wrote @io over @dataclass): regenerate with defaults.
        for name in _GENERATED:
            if name in cls.__dict__:
                delattr(cls, name)
        delattr(cls, "__dataclass_fields__")
        if "__dataclass_params__" in cls.__dict__:
            delattr(cls, "__dataclass_params__")
    annotations = _own_annotations(cls)
    declared: dict[str, Any] = {}
    for name, ann in annotations.items():
        if name.startswith("_") or _is_classvar(cls, name):
            continue
        if not _is_initvar(ann):
            declared[name] = ann
            annotations[name] = _optional(ann)
        current = cls.__dict__.get(name, dataclasses.MISSING)
        if current is dataclasses.MISSING:
            setattr(cls, name, None)
        elif isinstance(current, dataclasses.Field) and (
            current.default is dataclasses.MISSING
            and current.default_factory is dataclasses.MISSING
        ):
            current.default = None
    # The class's own annotations now read ``T | None`` (what the constructor accepts and
    # a message may hold); the declared ``T`` is kept for the port model.
    cls.__annotations__ = annotations
    cls.__retriever_declared__ = declared  # type: ignore[attr-defined]
    dc = dataclasses.dataclass(cls)
    ports = tuple(
        f.name for f in dataclasses.fields(dc)  # type: ignore[arg-type]
        if not f.name.startswith("_") and not _is_classvar(dc, f.name)
    )
    if EnvelopeMixin not in dc.__mro__:
        for attr in ("_get_signal", "_set_signal", "_has_signal", "_signals"):
            if attr not in dc.__dict__:
                setattr(dc, attr, EnvelopeMixin.__dict__[attr])
    dc.__retriever_ports__ = ports  # type: ignore[attr-defined]
    dc.__retriever_io__ = True  # type: ignore[attr-defined]
    return dc


def _optional(ann: Any) -> Any:
    """``ann | None``; a string annotation (postponed evaluation) stays a string."""
    if isinstance(ann, str):
        return f"{ann} | None"
    try:
        return ann | None
    except TypeError:
        try:
            return typing.Optional[ann]  # noqa: UP045 (forms without `|`)
        except TypeError:
            return ann  # not a type at all: left as written


def _is_initvar(ann: Any) -> bool:
    if isinstance(ann, str):
        return ann.startswith(("InitVar", "dataclasses.InitVar"))
    return isinstance(ann, dataclasses.InitVar) or ann is dataclasses.InitVar


def _is_classvar(cls: type, name: str) -> bool:
    ann = cls.__dict__.get("__annotations__", {}).get(name)
    if isinstance(ann, str):
        return ann.startswith(("ClassVar", "typing.ClassVar"))
    return typing.get_origin(ann) is typing.ClassVar


def is_envelope(obj: Any) -> bool:
    """Whether ``obj`` is an ``@io`` class (not an instance)."""
    return isinstance(obj, type) and bool(obj.__dict__.get("__retriever_io__"))


def envelope_ports(cls: type) -> tuple[str, ...]:
    """Port names of an ``@io`` class in declaration order."""
    return tuple(getattr(cls, _PORTS_ATTR, ()))


def envelope_field_types(cls: type) -> dict[str, Any]:
    """Resolved annotation of every port (``Any`` where it cannot be resolved).

    The ``Optional`` that ``@io`` adds is not part of the declared type: these are the
    annotations as written (``typing.get_type_hints(cls)`` shows ``T | None``).
    """
    cached = cls.__dict__.get("__retriever_port_types__")
    if cached is not None:
        return dict(cached)
    hints = declared_type_hints(cls)
    out: dict[str, Any] = {}
    for name in envelope_ports(cls):
        out[name] = hints.get(name, Any)
    cls.__retriever_port_types__ = out  # type: ignore[attr-defined]
    return dict(out)


def declared_type_hints(cls: type, *, include_extras: bool = False) -> dict[str, Any]:
    """Resolved field annotations of an ``@io`` class as declared, without the
    ``| None`` that ``@io`` adds; a field whose annotation cannot be resolved is left out.
    """
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        # A plain (non-@io) base keeps its annotations as written.
        declared = klass.__dict__.get("__retriever_declared__",
                                      klass.__dict__.get("__annotations__"))
        if not declared or klass is object:
            continue
        module = sys.modules.get(klass.__module__)
        globalns = dict(vars(module)) if module else {}
        # A stand-in class carrying only the declared annotations, resolved in the
        # namespace of the class that declared them.
        holder = type("_Declared", (), {"__annotations__": dict(declared),
                                        "__module__": klass.__module__})
        try:
            hints.update(typing.get_type_hints(holder, globalns=globalns,
                                               include_extras=include_extras))
        except Exception:  # unresolvable forward reference: fall back per field
            for name in declared:
                hints.pop(name, None)
    return hints
