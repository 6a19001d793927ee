"""The composite view as mypy sees it: ``inp.Imu.stamp`` has the type of ``Imu.stamp``.

At run time a flow with a composite input ``Flow[tuple[Imu, Pose], O]`` receives a
``CompositeView``: a tuple of the envelopes that also answers ``inp.Imu`` / ``inp.Pose``
(the aliases, ``Name__1`` / ``Name__2`` when class names collide), ``inp.theta`` (a
field only one envelope has) and ``_get_signal`` / ``_set_signal`` / ``_has_signal``.

The plugin gives the flow a synthesized class ``<Flow>__View``: a subclass of
``tuple[Imu, Pose]`` (so indexing and unpacking keep working) with those attributes,
typed. It replaces ``tuple[Imu, Pose]`` as the flow's input type argument and as the
annotation of ``step``'s input parameter, so the override stays compatible with
``Flow.step`` and the body of ``step`` is checked against the view. An ambiguous field
is not an attribute of the view; the rule RET003 names it (see ``access.py``).
"""

from __future__ import annotations

from mypy.nodes import (
    ARG_POS,
    GDEF,
    MDEF,
    Argument,
    SymbolTableNode,
    TypeInfo,
    Var,
)
from mypy.plugin import ClassDefContext
from mypy.plugins.common import add_method_to_class
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    NoneType,
    TupleType,
    Type,
    TypeOfAny,
    get_proper_type,
)

from retriever.contract.ports import aliases

from .describe import FLOW, META, has_unbound, io_ports, step_def

#: Metadata key marking a synthesized view class.
VIEW = "view"


def is_view(info: TypeInfo) -> bool:
    """Whether ``info`` is a view class made by :func:`install_view`."""
    meta = info.metadata.get(META)
    return bool(meta and meta.get(VIEW))


def _field_types(envelope: Instance) -> dict[str, Type] | None:
    ports = io_ports(envelope.type)
    if ports is None:
        return None
    out: dict[str, Type] = {}
    for name in ports:
        sym = envelope.type.get(name)
        node = sym.node if sym is not None else None
        if not isinstance(node, Var) or node.type is None:
            return None
        out[name] = node.type
    return out


def _attributes(items: list[Type]) -> dict[str, Type] | None:
    """Aliases -> envelope types, and every field one envelope alone has -> its type."""
    envelopes = [get_proper_type(i) for i in items]
    if not all(isinstance(e, Instance) for e in envelopes):
        return None
    names = aliases([e.type.fullname for e in envelopes if isinstance(e, Instance)])
    attrs: dict[str, Type] = {}
    seen: dict[str, int] = {}
    fields: dict[str, Type] = {}
    for alias, env, item in zip(names, envelopes, items, strict=True):
        assert isinstance(env, Instance)
        attrs[alias] = item
        types = _field_types(env)
        if types is None:
            return None
        for name, tp in types.items():
            seen[name] = seen.get(name, 0) + 1
            fields[name] = tp
    for name, tp in fields.items():
        if seen[name] == 1 and name not in attrs:
            attrs[name] = tp
    return attrs


def install_view(ctx: ClassDefContext, input_type: Type) -> None:
    """Give a composite-input flow class its typed view (idempotent)."""
    info = ctx.cls.info
    tup = get_proper_type(input_type)
    if not isinstance(tup, TupleType) or tup.partial_fallback.type.fullname != "builtins.tuple":
        return
    attrs = _attributes(list(tup.items))
    step = step_def(info)
    if attrs is None or step is None:
        return
    sig = step.type
    if not isinstance(sig, CallableType) or len(sig.arg_types) < 2:
        return
    declared = sig.arg_types[1]
    if has_unbound(declared):  # the method's signature is analysed after this hook
        declared = ctx.api.anal_type(declared, report_invalid_types=False) or declared
    if not _same(declared, tup):
        return  # step's input is annotated otherwise: leave everything as it is
    meta = info.metadata.setdefault(META, {})
    known = meta.get(VIEW)
    sym = ctx.api.lookup_fully_qualified_or_none(known) if isinstance(known, str) else None
    view = sym.node if sym is not None and isinstance(sym.node, TypeInfo) else _build(
        ctx, f"{ctx.cls.name}__View", tup, attrs)
    meta[VIEW] = view.fullname
    view_type = TupleType(list(tup.items), Instance(view, []))
    _retarget_base(info, tup, view_type)
    arg_types = list(sig.arg_types)
    arg_types[1] = view_type
    step.type = sig.copy_modified(arg_types=arg_types)


def _build(ctx: ClassDefContext, name: str, tup: TupleType,
           attrs: dict[str, Type]) -> TypeInfo:
    api = ctx.api
    fallback = api.named_type("builtins.tuple", [AnyType(TypeOfAny.special_form)])
    view = api.basic_new_typeinfo(name, fallback, ctx.cls.line)
    view.is_named_tuple = True  # a tuple with named attributes, as mypy models them
    view.update_tuple_type(TupleType(list(tup.items), fallback))
    view.metadata[META] = {VIEW: True}
    for attr, tp in attrs.items():
        var = Var(attr, tp)
        var.info = view
        var.is_property = True
        var._fullname = f"{view.fullname}.{attr}"
        view.names[attr] = SymbolTableNode(MDEF, var)
    text, anything = api.named_type("builtins.str"), AnyType(TypeOfAny.explicit)
    key = Argument(Var("name", text), text, None, ARG_POS)
    value = Argument(Var("value", anything), anything, None, ARG_POS)
    for method, args, ret in (("_get_signal", [key], anything),
                              ("_set_signal", [key, value], NoneType()),
                              ("_has_signal", [key], api.named_type("builtins.bool")),
                              ("_signals", [], api.named_type("builtins.list", [text]))):
        add_method_to_class(api, view.defn, method, args, ret)
    # In the current scope's table, so that mypy's cache can find it again by name.
    api.add_symbol_table_node(name, SymbolTableNode(GDEF, view, plugin_generated=True))
    return view


def _same(a: Type, b: Type) -> bool:
    pa, pb = get_proper_type(a), get_proper_type(b)
    return isinstance(pa, TupleType) and isinstance(pb, TupleType) and (
        pa.partial_fallback.type.fullname == "builtins.tuple" and pa.items == pb.items)


def _retarget_base(info: TypeInfo, tup: TupleType, view_type: TupleType) -> None:
    for k, base in enumerate(info.bases):
        if base.type.fullname == FLOW and len(base.args) == 2 and _same(base.args[0], tup):
            info.bases[k] = base.copy_modified(args=[view_type, base.args[1]])


