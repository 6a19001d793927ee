"""Canonical type names of mypy types.

The strings are the ones :func:`retriever.contract.typenames.type_name` gives for the
same annotation at runtime (``float``, ``numpy.ndarray``, ``list[int]``,
``pkg.mod.Class``), so the rule engine compares them the same way in every front end.
"""

from __future__ import annotations

from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    LiteralType,
    NoneType,
    TupleType,
    Type,
    TypedDictType,
    TypeOfAny,
    TypeType,
    UnionType,
    get_proper_type,
)

from retriever.contract.typenames import ANY, canonical_fullname


def _omitted(args: tuple[Type, ...]) -> bool:
    for arg in args:
        p = get_proper_type(arg)
        if not (isinstance(p, AnyType) and p.type_of_any == TypeOfAny.from_omitted_generics):
            return False
    return True


def type_name(tp: Type) -> str:
    """Canonical name of a mypy type (``Optional`` stripped, like the runtime)."""
    p = get_proper_type(tp)
    if isinstance(p, AnyType):
        return ANY
    if isinstance(p, NoneType):
        return "None"
    if isinstance(p, UnionType):
        members = [m for m in p.items if not isinstance(get_proper_type(m), NoneType)]
        if len(members) == 1:
            return type_name(members[0])
        return "Union[" + ", ".join(sorted(type_name(m) for m in members)) + "]"
    if isinstance(p, Instance):
        return _instance_name(p)
    if isinstance(p, TupleType):
        fallback = p.partial_fallback.type.fullname
        if fallback != "builtins.tuple":  # a NamedTuple class
            return canonical_fullname(fallback)
        return "tuple[" + ", ".join(type_name(i) for i in p.items) + "]"
    if isinstance(p, TypeType):
        return f"type[{type_name(p.item)}]"
    if isinstance(p, CallableType):
        # Runtime Callable[[...], R] parameters collapse to Any.
        return f"collections.abc.Callable[Any, {type_name(p.ret_type)}]"
    if isinstance(p, LiteralType):
        return f"typing.Literal[{p.value if isinstance(p.value, str) else ANY}]"
    if isinstance(p, TypedDictType):
        return canonical_fullname(p.fallback.type.fullname)
    return ANY


def _instance_name(inst: Instance) -> str:
    base = canonical_fullname(inst.type.fullname)
    if base == "numpy.ndarray" or not inst.args or _omitted(inst.args):
        return base  # ndarray dtype/shape parameters are not checked statically
    if inst.type.fullname == "builtins.tuple":  # tuple[X, ...]: the runtime sees (X, Ellipsis)
        return f"tuple[{type_name(inst.args[0])}, {ANY}]"
    return base + "[" + ", ".join(type_name(a) for a in inst.args) + "]"


def element_name(tp: Type) -> str:
    """Name of one element of a ``step`` return tuple (classes by their class name)."""
    p = get_proper_type(tp)
    if isinstance(p, Instance) and not p.args:
        return canonical_fullname(p.type.fullname)
    return type_name(tp)
