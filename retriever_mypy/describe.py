"""Translate what mypy sees into the contract's neutral descriptions.

Nothing here judges anything: flows become :class:`FlowDesc`, connections become
:class:`EdgeDesc`, and :mod:`retriever.contract.rules` decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mypy.maptype import map_instance_to_supertype
from mypy.nodes import (
    AssignmentStmt,
    CallExpr,
    ClassDef,
    Decorator,
    DictExpr,
    Expression,
    FuncDef,
    ListExpr,
    NameExpr,
    RefExpr,
    StrExpr,
    TupleExpr,
    TypeInfo,
    Var,
)
from mypy.semanal_shared import has_placeholder
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    NoneType,
    TupleType,
    Type,
    TypeOfAny,
    TypeType,
    UnboundType,
    UnionType,
    get_proper_type,
    has_type_vars,
)
from mypy.typevars import fill_typevars

from retriever.contract.model import EdgeDesc, ElementKind, EnvelopeDesc, FlowDesc, SideDesc
from retriever.contract.ports import PortTable
from retriever.contract.typenames import ANY, canonical_fullname

from .names import element_name, type_name

FLOW = "retriever.flow.base.Flow"
TEMPORAL = "retriever.flow.temporal.TemporalFlow"
IO = "retriever.contract.envelope.io"
EDGE_CONFIG = "retriever.flow.edge.EdgeConfig"
CLOCKS = {
    "retriever.flow.clock.Rate": "rate",
    "retriever.flow.clock.Tick": "tick",
    "retriever.flow.clock.Trigger": "trigger",
    "retriever.flow.clock.Hybrid": "hybrid",
}
#: Adapters whose sampled value has another type than the stored messages.
TYPE_CHANGING_ADAPTERS = frozenset({
    "retriever.flow.adapter.Events", "retriever.flow.adapter.Chunking"})
#: Adapters known to hand the stored type through unchanged.
TYPE_KEEPING_ADAPTERS = frozenset({
    "retriever.flow.adapter.Latest", "retriever.flow.adapter.Hold",
    "retriever.flow.adapter.Window", "retriever.flow.adapter.Exact",
    "retriever.flow.adapter.Linear"})
META = "retriever"
#: Extra attribute carried by the TemporalFlow type of ``flow @ clock``: the flow's type.
FLOW_ATTR = "__retriever_flow__"


Analyze = Callable[[Type], "Type | None"]


def has_unbound(tp: Type) -> bool:
    """Whether ``tp`` still contains unanalysed parts.

    (mypy is compiled with mypyc: its type visitors cannot be subclassed here.)
    """
    if isinstance(tp, UnboundType):
        return True
    if isinstance(tp, UnionType):
        return any(has_unbound(i) for i in tp.items)
    if isinstance(tp, TupleType):
        return any(has_unbound(i) for i in tp.items)
    if isinstance(tp, Instance):
        return any(has_unbound(a) for a in tp.args)
    if isinstance(tp, CallableType):
        return has_unbound(tp.ret_type) or any(has_unbound(a) for a in tp.arg_types)
    if isinstance(tp, TypeType):
        return has_unbound(tp.item)
    return False


class Incomplete(Exception):
    """A type needed for a description is not analysed yet (semantic analysis defers)."""


class Unknown:
    """Marker: the expression is not a literal the plugin can read."""


UNKNOWN = Unknown()


# --------------------------------------------------------------------------- envelopes


def io_ports(info: TypeInfo) -> list[str] | None:
    """Port names of an ``@io`` class (recorded by the decorator hook), else None."""
    meta = info.metadata.get(META)
    if not meta or not meta.get("io"):
        return None
    return [str(p) for p in meta.get("ports", [])]


def own_annotated_fields(cls: ClassDef) -> list[str]:
    """Names a dataclass would make fields, in the class body's order (public only)."""
    out: list[str] = []
    for stmt in cls.defs.body:
        if not isinstance(stmt, AssignmentStmt) or len(stmt.lvalues) != 1:
            continue
        lv = stmt.lvalues[0]
        if not isinstance(lv, NameExpr) or (stmt.unanalyzed_type is None and stmt.type is None):
            continue
        node = lv.node
        if (isinstance(node, Var) and node.is_classvar) or lv.name.startswith("_"):
            continue
        out.append(lv.name)
    return out


def envelope_port_names(info: TypeInfo, cls: ClassDef) -> list[str]:
    """Ports of a class being decorated with ``@io``: inherited envelope ports first."""
    ports: list[str] = []
    for base in reversed(info.mro[1:]):
        for name in io_ports(base) or ():
            if name not in ports:
                ports.append(name)
    for name in own_annotated_fields(cls):
        if name not in ports:
            ports.append(name)
    return ports


def describe_element(tp: Type) -> EnvelopeDesc:
    """One signature element: an envelope with its typed ports, None, or something else."""
    p = get_proper_type(tp)
    if isinstance(p, NoneType):
        return EnvelopeDesc.none()
    if isinstance(p, Instance):
        ports = io_ports(p.type)
        if ports is not None:
            fields = []
            for name in ports:
                sym = p.type.get(name)
                node = sym.node if sym is not None else None
                ftype = node.type if isinstance(node, Var) else None
                if ftype is None or has_placeholder(ftype):
                    raise Incomplete(name)
                fields.append((name, type_name(ftype)))
            return EnvelopeDesc(canonical_fullname(p.type.fullname), ElementKind.ENVELOPE,
                                tuple(fields))
    return EnvelopeDesc(type_name(tp), ElementKind.OTHER)


def describe_side(tp: Type) -> SideDesc:
    """A signature side: single element, or composite for ``tuple[A, B]``/``(A, B)``."""
    p = get_proper_type(tp)
    if isinstance(p, NoneType):
        return SideDesc((EnvelopeDesc.none(),), False)
    if isinstance(p, TupleType) and p.partial_fallback.type.fullname == "builtins.tuple":
        return SideDesc(tuple(describe_element(i) for i in p.items), True)
    if isinstance(p, Instance) and p.type.fullname == "builtins.tuple" and p.args:
        # tuple[A, ...]: the runtime sees the elements (A, Ellipsis)
        return SideDesc((describe_element(p.args[0]), EnvelopeDesc(ANY, ElementKind.OTHER)),
                        True)
    return SideDesc((describe_element(tp),), False)


# --------------------------------------------------------------------------- flows


def flow_info_of(info: TypeInfo) -> TypeInfo | None:
    """The ``Flow`` TypeInfo among the bases of ``info``, if it is a flow class."""
    for base in info.mro:
        if base.fullname == FLOW:
            return base
    return None


def flow_arguments(info: TypeInfo) -> tuple[Type, Type] | None:
    """``(I, O)`` of a flow class; None when generic or not a flow."""
    flow = flow_info_of(info)
    if flow is None or info is flow:
        return None
    self_type = fill_typevars(info)
    if not isinstance(self_type, Instance):
        return None
    mapped = map_instance_to_supertype(self_type, flow)
    if len(mapped.args) != 2:
        return None
    i, o = mapped.args
    for arg in (i, o):
        if has_placeholder(arg):
            raise Incomplete("signature")
        if has_type_vars(arg):
            return None
        p = get_proper_type(arg)
        if isinstance(p, AnyType) and p.type_of_any != TypeOfAny.explicit:
            return None  # bare Flow base: no concrete signature to check
    return i, o


def qualname(info: TypeInfo) -> str:
    """The class's ``__qualname__`` as the runtime would report it."""
    name = info.fullname
    if info.module_name and name.startswith(info.module_name + "."):
        name = name[len(info.module_name) + 1:]
    return name.split("@", 1)[0]


def step_def(info: TypeInfo) -> FuncDef | None:
    """The ``step`` method defined in the class body itself, if any."""
    sym = info.names.get("step")
    node = sym.node if sym is not None else None
    if isinstance(node, Decorator):
        node = node.func
    return node if isinstance(node, FuncDef) else None


def step_return(info: TypeInfo, analyze: Analyze | None = None) -> str | None:
    """Canonical name of the own ``step``'s return annotation (None when absent).

    During semantic analysis the annotation may not be analysed yet; ``analyze``
    (the semantic analyser's ``anal_type``) is then used, without changing the tree.
    """
    fn = step_def(info)
    if fn is None or not isinstance(fn.type, CallableType):
        return None
    raw = fn.type.ret_type
    if isinstance(raw, UnboundType) or (analyze is not None and has_unbound(raw)):
        if analyze is None:
            raise Incomplete("step")
        analyzed = analyze(raw)
        if analyzed is None:
            raise Incomplete("step")
        raw = analyzed
    ret = get_proper_type(raw)
    if has_placeholder(ret):
        raise Incomplete("step")
    if isinstance(ret, AnyType) and ret.type_of_any == TypeOfAny.unannotated:
        return None
    if isinstance(ret, TupleType) and ret.partial_fallback.type.fullname == "builtins.tuple":
        return "tuple[" + ", ".join(element_name(i) for i in ret.items) + "]"
    return type_name(ret)


def describe_flow(info: TypeInfo, *, trigger_fields: Sequence[str] = (),
                  clock: str | None = None, analyze: Analyze | None = None,
                  ) -> FlowDesc | None:
    """The :class:`FlowDesc` of a flow class (None when it has no concrete signature)."""
    args = flow_arguments(info)
    if args is None:
        return None
    return FlowDesc(
        name=qualname(info),
        inputs=describe_side(args[0]),
        outputs=describe_side(args[1]),
        trigger_fields=tuple(trigger_fields),
        clock=clock,
        step_return=step_return(info, analyze),
    )


def flow_of_handle(tp: Type) -> TypeInfo | None:
    """The flow class carried by a ``TemporalFlow`` type made by ``flow @ clock``."""
    p = get_proper_type(tp)
    if not isinstance(p, Instance) or p.type.fullname != TEMPORAL or p.extra_attrs is None:
        return None
    flow = get_proper_type(p.extra_attrs.attrs.get(FLOW_ATTR))
    if isinstance(flow, Instance) and flow_info_of(flow.type) is not None:
        return flow.type
    return None


# --------------------------------------------------------------------------- literals


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


def sync_of(expr: Expression | None, tp: Type | None) -> SyncInfo | Unknown:
    """Read ``sync=``: one adapter for every port, or a literal per-port dict."""
    if _is_none(expr):
        return SyncInfo()
    assert expr is not None
    if isinstance(expr, DictExpr):
        ports, changing = [], []
        for k, v in expr.items:
            if not isinstance(k, StrExpr):
                return UNKNOWN
            ports.append(k.value)
            if _adapter_changes_type(_class_called(v)):
                changing.append(k.value)
        return SyncInfo(False, tuple(ports), tuple(changing))
    p = get_proper_type(tp) if tp is not None else None
    if isinstance(p, Instance) and p.type.fullname in ("builtins.dict",):
        return UNKNOWN  # a dict built elsewhere: keys not visible
    changing_all = ("*",) if _adapter_changes_type(_class_called(expr, tp)) else ()
    return SyncInfo(True, (), changing_all)


@dataclass(frozen=True)
class EdgeConfigInfo:
    """What an ``edge_config=`` argument says: its keys and those setting an adapter."""

    ports: tuple[str, ...] = ()
    adapter_ports: tuple[str, ...] = ()
    changing: tuple[str, ...] = ()


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
    ports, adapters, changing = [], [], []
    for key, call in entries:
        adapter = _edge_config_adapter(call)
        if isinstance(adapter, Unknown):
            return UNKNOWN
        ports.append(key)
        if adapter is not None:
            adapters.append(key)
            if _adapter_changes_type(_class_called(adapter)):
                changing.append(key)
    return EdgeConfigInfo(tuple(ports), tuple(adapters), tuple(changing))


def edge_desc(src: FlowDesc, dst: FlowDesc, map_pairs: tuple[tuple[str, str], ...] | None,
              sync: SyncInfo, edge_config: EdgeConfigInfo, implicit_sync: bool = False,
              ) -> EdgeDesc:
    """The :class:`EdgeDesc` of a connection as the plugin reads it.

    Whether a default sync policy exists is only known at runtime, so the description
    claims one (RET108 is not a static rule). ``implicit_sync`` marks ``then``/``>>``
    edges, which fall back to ``Latest()`` anyway.
    """
    changing = list(sync.changing) + list(edge_config.changing)
    if "*" in changing:
        changing = PortTable(src.outputs).names()
    return EdgeDesc(
        src=src, dst=dst, map=map_pairs, sync_all=sync.all_ports, sync_ports=sync.ports,
        edge_config_ports=edge_config.ports,
        edge_config_adapter_ports=edge_config.adapter_ports,
        type_changing_ports=tuple(changing), has_default_sync=True,
        implicit_sync=implicit_sync,
    )
