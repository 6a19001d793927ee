"""Canonical type names: the neutral form in which every front end describes a port type.

A name is ``module.Qualname`` for classes (builtins without module), with parameters in
brackets: ``float``, ``numpy.ndarray``, ``list[int]``, ``Any``. The mypy plugin produces
the same strings from mypy types, so one compatibility rule serves everyone.
"""

from __future__ import annotations

import types
import typing
from typing import Any

ANY = "Any"
_NUMERIC_WIDENING = {("int", "float"), ("bool", "int"), ("bool", "float"), ("int", "complex"),
                     ("float", "complex")}
_ALIASES = {
    "typing.List": "list",
    "typing.Dict": "dict",
    "typing.Tuple": "tuple",
    "typing.Set": "set",
    "typing.FrozenSet": "frozenset",
    "typing.Sequence": "collections.abc.Sequence",
    "typing.Mapping": "collections.abc.Mapping",
    "numpy.typing.NDArray": "numpy.ndarray",
}


# Static analysers (mypy) know these abstract classes by their ``typing`` home; at runtime
# their generic aliases have ``collections.abc`` origins. Used by canonical_fullname only.
_STATIC_ALIASES = {
    f"typing.{n}": f"collections.abc.{n}"
    for n in ("Iterable", "Iterator", "Sequence", "MutableSequence", "Mapping",
              "MutableMapping", "Collection", "Container", "MutableSet", "Awaitable",
              "Coroutine", "AsyncIterable", "AsyncIterator", "Generator", "AsyncGenerator",
              "Hashable", "Sized", "Reversible", "KeysView", "ItemsView", "ValuesView",
              "MappingView")
}
_STATIC_ALIASES["typing.AbstractSet"] = "collections.abc.Set"


def canonical_fullname(fullname: str) -> str:
    """Canonical name of a class known by its static full name (mypy's ``fullname``).

    ``builtins.float`` -> ``float``; ``typing.Sequence`` -> ``collections.abc.Sequence``;
    other names are kept. Gives the same string :func:`class_name` gives for the class.
    """
    if fullname.startswith("builtins."):
        return fullname[len("builtins."):]
    return _ALIASES.get(fullname, _STATIC_ALIASES.get(fullname, fullname))


def class_name(cls: type) -> str:
    """Canonical name of a class."""
    module = getattr(cls, "__module__", "")
    qual = getattr(cls, "__qualname__", getattr(cls, "__name__", repr(cls)))
    if module in ("builtins", ""):
        return str(qual)
    full = f"{module}.{qual}"
    return _ALIASES.get(full, full)


def type_name(tp: Any) -> str:
    """Canonical name of a runtime annotation (``Optional`` is stripped)."""
    if tp is Any or tp is object:
        return ANY if tp is Any else "object"
    if tp is None or tp is type(None):
        return "None"
    if isinstance(tp, str):
        return tp
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return type_name(args[0])
        return "Union[" + ", ".join(sorted(type_name(a) for a in args)) + "]"
    if origin is not None:
        base = class_name(origin) if isinstance(origin, type) else str(origin)
        if base == "numpy.ndarray":
            return base  # dtype/shape parameters are not checked statically
        params = typing.get_args(tp)
        if not params:
            return base
        return base + "[" + ", ".join(type_name(a) for a in params) + "]"
    if isinstance(tp, type):
        return class_name(tp)
    return ANY


def _split(name: str) -> tuple[str, str]:
    if "[" in name and name.endswith("]"):
        i = name.index("[")
        return name[:i], name[i + 1 : -1]
    return name, ""


def _union_members(name: str) -> list[str]:
    base, inner = _split(name)
    if base != "Union":
        return [name]
    return _top_level(inner)


def _top_level(inner: str) -> list[str]:
    """Split ``a, b[c, d]`` at its top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def compatible(src: str, dst: str) -> bool:
    """Whether a value declared as ``src`` may flow into a port declared as ``dst``.

    Lenient where static knowledge is thin: ``Any``/``object`` accept everything, a bare
    generic matches any parameterisation of it, numbers widen (int -> float).
    """
    if src == dst or ANY in (src, dst) or dst == "object":
        return True
    if (src, dst) in _NUMERIC_WIDENING:
        return True
    dst_members = _union_members(dst)
    if len(dst_members) > 1:
        return all(any(compatible(s, d) for d in dst_members) for s in _union_members(src))
    src_members = _union_members(src)
    if len(src_members) > 1:
        return all(compatible(s, dst) for s in src_members)
    sb, sa = _split(src)
    db, da = _split(dst)
    if sb != db and db not in _CONTAINER_WIDENING.get(sb, ()):
        return False
    if not sa or not da or sa == da:
        return True
    s_args, d_args = _top_level(sa), _top_level(da)
    if sb != db:  # list[X] into Sequence[Y]: compare the element types
        s_args = s_args[:1]
    return len(s_args) == len(d_args) and all(
        compatible(s, d) for s, d in zip(s_args, d_args, strict=True))


#: Containers accepted where a more general collection type is declared.
_CONTAINER_WIDENING: dict[str, tuple[str, ...]] = {
    "list": ("collections.abc.Sequence", "collections.abc.Iterable",
             "collections.abc.Collection"),
    "tuple": ("collections.abc.Sequence", "collections.abc.Iterable",
              "collections.abc.Collection"),
}
