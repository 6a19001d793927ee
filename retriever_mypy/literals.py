"""Literal arguments the plugin can read: clocks, maps, sync and edge-config values.

Anything that is not a literal (a variable, a dict built elsewhere) reads as
:data:`~retriever_mypy.describe.UNKNOWN`, and the plugin then leaves the call to the
other two front ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from mypy.nodes import (
    CallExpr,
    DictExpr,
    Expression,
    ListExpr,
    NameExpr,
    RefExpr,
    StrExpr,
    TupleExpr,
    TypeInfo,
)
from mypy.types import Instance, Type, get_proper_type

from retriever.contract import sampling
from retriever.contract.model import EdgeDesc, FlowDesc
from retriever.contract.ports import PortTable

from .describe import (
    CLOCKS,
    EDGE_CONFIG,
    TYPE_CHANGING_ADAPTERS,
    TYPE_KEEPING_ADAPTERS,
    UNKNOWN,
    Unknown,
)


def callee_fullname(expr: Expression) -> str | None:
    """Full name of what a call expression calls (``None`` if not a plain reference)."""
    if isinstance(expr, CallExpr) and isinstance(expr.callee, RefExpr):
        return expr.callee.fullname or None
    return None


def _strings(expr: Expression) -> tuple[str, ...] | Unknown:
    if isinstance(expr, StrExpr):
        return (expr.value,)
    if isinstance(expr, (ListExpr, TupleExpr)) and all(
            isinstance(i, StrExpr) for i in expr.items):
        return tuple(i.value for i in expr.items if isinstance(i, StrExpr))
    return UNKNOWN


def clock_of(expr: Expression) -> tuple[str, tuple[str, ...]] | Unknown:
    """``(kind, trigger fields)`` of a clock constructor call with literal fields."""
    kind = CLOCKS.get(callee_fullname(expr) or "")
    if kind is None or not isinstance(expr, CallExpr):
        return UNKNOWN
    if kind == "trigger":
        if any(name is not None for name in expr.arg_names):
            return UNKNOWN
        fields: list[str] = []
        for arg in expr.args:
            if not isinstance(arg, StrExpr):
                return UNKNOWN
            fields.append(arg.value)
        return kind, tuple(fields)
    if kind == "hybrid":
        for i, (arg, name) in enumerate(zip(expr.args, expr.arg_names, strict=True)):
            if name == "trigger" or (name is None and i == 1):
                found = _strings(arg)
                return found if isinstance(found, Unknown) else (kind, found)
        return UNKNOWN
    return kind, ()


def literal_map(expr: Expression | None) -> tuple[tuple[str, str], ...] | Unknown | None:
    """``map=`` as port pairs; None for the default; UNKNOWN when not a literal."""
    if expr is None or (isinstance(expr, NameExpr) and expr.fullname == "builtins.None"):
        return None
    if not isinstance(expr, DictExpr):
        return UNKNOWN
    pairs = []
    for k, v in expr.items:
        if not isinstance(k, StrExpr) or not isinstance(v, StrExpr):
            return UNKNOWN
        pairs.append((k.value, v.value))
    return tuple(pairs)


def _adapter_changes_type(info: TypeInfo | None) -> bool:
    if info is None:
        return True  # unknown adapter: do not compare port types (lenient)
    names = {b.fullname for b in info.mro}
    if names & TYPE_CHANGING_ADAPTERS:
        return True
    return not names & TYPE_KEEPING_ADAPTERS


#: Adapters whose output type the plugin knows (see retriever.contract.sampling).
_KINDS = {"retriever.flow.adapter.Events": sampling.EVENTS,
          "retriever.flow.adapter.Chunking": sampling.ELEMENT}


def adapter_kind(expr: Expression, fallback: Type | None = None) -> str:
    """The sampling kind of an adapter expression (``Events(...)`` -> ``events``)."""
    info = _class_called(expr, fallback)
    if info is None:
        return sampling.UNKNOWN
    if info.fullname in _KINDS:
        return _KINDS[info.fullname]
    if info.fullname == "retriever.flow.adapter.Window":
        agg = _keyword_or_position(expr, "agg", 1)
        if agg is None:
            return sampling.SAME  # default: last
        if isinstance(agg, StrExpr):
            return sampling.MEAN if agg.value == "mean" else sampling.SAME
        return sampling.UNKNOWN
    return sampling.UNKNOWN if _adapter_changes_type(info) else sampling.SAME


def _keyword_or_position(expr: Expression, name: str, index: int) -> Expression | None:
    if not isinstance(expr, CallExpr):
        return None
    for i, (arg, arg_name) in enumerate(zip(expr.args, expr.arg_names, strict=True)):
        if arg_name == name or (arg_name is None and i == index):
            return arg
    return None


def _class_called(expr: Expression, fallback: Type | None = None) -> TypeInfo | None:
    if isinstance(expr, CallExpr) and isinstance(expr.callee, RefExpr) and isinstance(
            expr.callee.node, TypeInfo):
        return expr.callee.node
    p = get_proper_type(fallback) if fallback is not None else None
    return p.type if isinstance(p, Instance) else None


def _is_none(expr: Expression | None) -> bool:
    return expr is None or (isinstance(expr, NameExpr) and expr.fullname == "builtins.None")


@dataclass(frozen=True)
class SyncInfo:
    """What a ``sync=`` argument says, as far as it is literal."""

    all_ports: bool = False
    ports: tuple[str, ...] = ()
    changing: tuple[str, ...] = ()
    kinds: tuple[tuple[str, str], ...] = ()


def sync_of(expr: Expression | None, tp: Type | None) -> SyncInfo | Unknown:
    """Read ``sync=``: one adapter for every port, or a literal per-port dict."""
    if _is_none(expr):
        return SyncInfo()
    assert expr is not None
    if isinstance(expr, DictExpr):
        ports, changing, kinds = [], [], []
        for k, v in expr.items:
            if not isinstance(k, StrExpr):
                return UNKNOWN
            ports.append(k.value)
            kinds.append((k.value, adapter_kind(v)))
            if _adapter_changes_type(_class_called(v)):
                changing.append(k.value)
        return SyncInfo(False, tuple(ports), tuple(changing), tuple(kinds))
    p = get_proper_type(tp) if tp is not None else None
    if isinstance(p, Instance) and p.type.fullname in ("builtins.dict",):
        return UNKNOWN  # a dict built elsewhere: keys not visible
    changing_all = ("*",) if _adapter_changes_type(_class_called(expr, tp)) else ()
    return SyncInfo(True, (), changing_all, (("*", adapter_kind(expr, tp)),))


@dataclass(frozen=True)
class EdgeConfigInfo:
    """What an ``edge_config=`` argument says: its keys and those setting an adapter."""

    ports: tuple[str, ...] = ()
    adapter_ports: tuple[str, ...] = ()
    changing: tuple[str, ...] = ()
    kinds: tuple[tuple[str, str], ...] = ()


def _edge_config_adapter(call: Expression) -> Expression | Unknown | None:
    if callee_fullname(call) != EDGE_CONFIG or not isinstance(call, CallExpr):
        return UNKNOWN
    for i, (arg, name) in enumerate(zip(call.args, call.arg_names, strict=True)):
        if name == "adapter" or (name is None and i == 2):
            return None if _is_none(arg) else arg
    return None


def edge_config_of(expr: Expression | None) -> EdgeConfigInfo | Unknown:
    """Read ``edge_config=``: one EdgeConfig for every port, or a literal per-port dict."""
    if _is_none(expr):
        return EdgeConfigInfo()
    assert expr is not None
    entries: list[tuple[str, Expression]] = []
    if isinstance(expr, DictExpr):
        for k, v in expr.items:
            if not isinstance(k, StrExpr):
                return UNKNOWN
            entries.append((k.value, v))
    else:
        entries.append(("*", expr))
    ports, adapters, changing, kinds = [], [], [], []
    for key, call in entries:
        adapter = _edge_config_adapter(call)
        if isinstance(adapter, Unknown):
            return UNKNOWN
        ports.append(key)
        if adapter is not None:
            adapters.append(key)
            kinds.append((key, adapter_kind(adapter)))
            if _adapter_changes_type(_class_called(adapter)):
                changing.append(key)
    return EdgeConfigInfo(tuple(ports), tuple(adapters), tuple(changing), tuple(kinds))


def edge_desc(src: FlowDesc, dst: FlowDesc, map_pairs: tuple[tuple[str, str], ...] | None,
              sync: SyncInfo, edge_config: EdgeConfigInfo,
              has_default_sync: bool = True, implicit_sync: bool = False) -> EdgeDesc:
    """The :class:`EdgeDesc` of a connection as the plugin reads it.

    ``has_default_sync`` says whether a default sync policy applies (see
    :func:`retriever_mypy.values.module_sets_default_sync`); ``implicit_sync`` marks a
    ``then``/``>>`` edge, which falls back to ``Latest()``.
    """
    changing = list(sync.changing) + list(edge_config.changing)
    if "*" in changing:
        changing = PortTable(src.outputs).names()
    return EdgeDesc(
        src=src, dst=dst, map=map_pairs, sync_all=sync.all_ports, sync_ports=sync.ports,
        edge_config_ports=edge_config.ports,
        edge_config_adapter_ports=edge_config.adapter_ports,
        type_changing_ports=tuple(changing), has_default_sync=has_default_sync,
        implicit_sync=implicit_sync,
        port_adapters=sync.kinds + edge_config.kinds,
    )
