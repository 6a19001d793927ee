"""Translate what mypy sees into the contract's neutral descriptions.

Nothing here judges anything: flows become :class:`FlowDesc`, connections become
:class:`EdgeDesc`, and :mod:`retriever.contract.rules` decides.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Sequence
from functools import lru_cache

from mypy.maptype import map_instance_to_supertype
from mypy.nodes import (
    AssignmentStmt,
    CallExpr,
    ClassDef,
    Context,
    Decorator,
    FuncDef,
    NameExpr,
    RefExpr,
    TypeInfo,
    Var,
)
from mypy.semanal_shared import has_placeholder
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    LiteralType,
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

from retriever.contract import payload
from retriever.contract.access import Access, step_accesses
from retriever.contract.model import ElementKind, EnvelopeDesc, FlowDesc, SideDesc
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
#: Extra attribute of a handle returned by ``pipe.add(...)``: the pipeline variable's
#: full name, as a literal string type.
OWNER_ATTR = "__retriever_pipeline__"
#: Extra attribute of a ``Pipeline(...)`` type (and of handles it added): its literal name.
NAME_ATTR = "__retriever_pipeline_name__"


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
            fields, opaque = [], []
            for name in ports:
                sym = p.type.get(name)
                node = sym.node if sym is not None else None
                ftype = node.type if isinstance(node, Var) else None
                if ftype is None or has_placeholder(ftype):
                    raise Incomplete(name)
                fields.append((name, type_name(ftype)))
                bad = untravelable(ftype)
                if bad is not None:
                    opaque.append((name, bad))
            return EnvelopeDesc(canonical_fullname(p.type.fullname), ElementKind.ENVELOPE,
                                tuple(fields), tuple(opaque))
    return EnvelopeDesc(type_name(tp), ElementKind.OTHER)


def untravelable(tp: Type) -> str | None:
    """The name of the part of a port type that cannot travel (RET008), else None.

    The same judgement as :func:`retriever.contract.payload.untravelable`, on mypy types.
    """
    p = get_proper_type(tp)
    if isinstance(p, UnionType):
        return next((bad for i in p.items if (bad := untravelable(i)) is not None), None)
    if isinstance(p, TupleType):
        return next((bad for i in p.items if (bad := untravelable(i)) is not None), None)
    if isinstance(p, (CallableType, TypeType)):
        return type_name(p)
    if not isinstance(p, Instance):
        return None  # Any, None, literals, type variables
    info = p.type
    names = {b.fullname for b in info.mro}
    if info.fullname in payload.CONTAINER_NAMES:
        return next((bad for a in p.args if (bad := untravelable(a)) is not None), None)
    if (info.fullname in payload.TRAVELLING_NAMES or names & payload.TRAVELLING_BASES
            or info.is_enum or "dataclass" in info.metadata or io_ports(info) is not None
            or _dataclass_transformed(info)):
        return None
    return canonical_fullname(info.fullname)


def _dataclass_transformed(info: TypeInfo) -> bool:
    # The metadata appears once mypy's dataclass support ran; the decorator is there before.
    for base in info.mro:
        if "dataclass" in base.metadata:
            return True
        for dec in base.defn.decorators:
            target = dec.callee if isinstance(dec, CallExpr) else dec
            if isinstance(target, RefExpr) and target.fullname in _DATACLASS_DECORATORS:
                return True
    return False


_DATACLASS_DECORATORS = frozenset({"dataclasses.dataclass", IO})


def describe_side(tp: Type) -> SideDesc:
    """A signature side: single element, or composite for ``tuple[A, B]``/``(A, B)``."""
    p = get_proper_type(tp)
    if isinstance(p, NoneType):
        return SideDesc((EnvelopeDesc.none(),), False)
    if isinstance(p, TupleType) and (p.partial_fallback.type.fullname == "builtins.tuple"
                                     or _is_view(p.partial_fallback.type)):
        return SideDesc(tuple(describe_element(i) for i in p.items), True)
    if isinstance(p, Instance) and p.type.fullname == "builtins.tuple" and p.args:
        # tuple[A, ...]: the runtime sees the elements (A, Ellipsis)
        return SideDesc((describe_element(p.args[0]), EnvelopeDesc(ANY, ElementKind.OTHER)),
                        True)
    return SideDesc((describe_element(tp),), False)


# --------------------------------------------------------------------------- flows


def _is_view(info: TypeInfo) -> bool:
    # A composite view class synthesized by retriever_mypy.view (same tuple contract).
    meta = info.metadata.get(META)
    return bool(meta and meta.get("view") is True)


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


@lru_cache(maxsize=256)
def _source(path: str, _stamp: int) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return ""


@lru_cache(maxsize=256)
def _class_defs(path: str, stamp: int) -> dict[int, ast.ClassDef]:
    try:
        tree = ast.parse(_source(path, stamp))
    except (SyntaxError, ValueError):
        return {}
    return {n.lineno: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}


def step_uses(path: str | None, cls: ClassDef, composite: bool,
              ) -> list[tuple[Access, Context]]:
    """Accesses to the own ``step``'s input parameter, each with a context to report at.

    Read from the module's source with :mod:`ast` (mypy's own visitors cannot be
    subclassed by an interpreted plugin); only the syntax matters here. A single
    envelope input has only signal calls to judge: modules without any are skipped
    without parsing.
    """
    if not path:
        return []
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return []
    if not composite and "_signal" not in _source(path, stamp):
        return []
    node = _class_defs(path, stamp).get(cls.line)
    if node is None or node.name != cls.name:
        return []
    return [(acc, Context(acc.line, acc.column - 1)) for acc in step_accesses(node)]


def defines_step(info: TypeInfo) -> bool:
    """Whether the class or a base below ``Flow`` defines ``step`` (abstract classes pass)."""
    if info.is_abstract:
        return True
    for base in info.mro:
        if base.fullname == FLOW:
            return False
        if "step" in base.names:
            return True
    return True


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
        has_step=defines_step(info),
    )


def literal_attr(tp: Type, attr: str) -> str | None:
    """A literal string kept in a type's extra attributes (None if absent)."""
    p = get_proper_type(tp)
    if not isinstance(p, Instance) or p.extra_attrs is None:
        return None
    value = get_proper_type(p.extra_attrs.attrs.get(attr))
    return value.value if isinstance(value, LiteralType) and isinstance(
        value.value, str) else None


def owner_of_handle(tp: Type) -> str | None:
    """The pipeline variable a handle was returned from by ``add`` (None if unknown)."""
    return literal_attr(tp, OWNER_ATTR)


def flow_of_handle(tp: Type) -> TypeInfo | None:
    """The flow class carried by a ``TemporalFlow`` type made by ``flow @ clock``."""
    p = get_proper_type(tp)
    if not isinstance(p, Instance) or p.type.fullname != TEMPORAL or p.extra_attrs is None:
        return None
    flow = get_proper_type(p.extra_attrs.attrs.get(FLOW_ATTR))
    if isinstance(flow, Instance) and flow_info_of(flow.type) is not None:
        return flow.type
    return None
