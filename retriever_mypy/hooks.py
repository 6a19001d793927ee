"""The plugin's hooks. Each is a pure function of its context (no state between calls).

Semantic-analysis hooks: ``@io`` classes (envelope constructor) and flow classes
(signature rules, step return). Type-checking hooks: ``flow @ clock`` (Trigger fields,
and the flow type carried on the handle), ``connect`` / ``then`` / ``>>`` (edge rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from mypy.nodes import (
    ARG_NAMED,
    ARG_NAMED_OPT,
    ARG_OPT,
    ARG_POS,
    Argument,
    CallExpr,
    Context,
    Expression,
    FuncDef,
    MemberExpr,
    NameExpr,
    StrExpr,
    TypeInfo,
    Var,
)
from mypy.plugin import ClassDefContext, FunctionContext, MethodContext
from mypy.plugins import dataclasses as dataclasses_plugin
from mypy.plugins.common import add_method_to_class
from mypy.types import (
    AnyType,
    CallableType,
    ExtraAttrs,
    Instance,
    LiteralType,
    NoneType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

from retriever.contract.access import check_accesses
from retriever.contract.diagnostics import Diagnostic
from retriever.contract.rules import (
    RuleOptions,
    check_explicit_sync,
    check_flow,
    check_node,
    resolve_edge,
    self_loop,
    unclocked,
)

from .codes import report
from .config import PluginConfig
from .describe import (
    FLOW_ATTR,
    META,
    NAME_ATTR,
    OWNER_ATTR,
    TEMPORAL,
    Incomplete,
    Unknown,
    describe_flow,
    envelope_port_names,
    flow_arguments,
    flow_info_of,
    flow_of_handle,
    literal_attr,
    owner_of_handle,
    qualname,
    step_def,
    step_uses,
)
from .graph import (
    fan_in,
    foreign,
    foreign_flow,
    global_name,
    left_operand,
    unencodable_arguments,
)
from .literals import clock_of, edge_config_of, edge_desc, literal_map, sync_of
from .values import module_sets_default_sync, values_hook
from .view import install_view

# --------------------------------------------------------------------------- @io


def io_tag_hook(ctx: ClassDefContext) -> None:
    """First pass over an ``@io`` class: tag it as a dataclass and record its ports."""
    dataclasses_plugin.dataclass_tag_callback(ctx)
    ctx.cls.info.metadata[META] = {
        "io": True, "ports": envelope_port_names(ctx.cls.info, ctx.cls)}


def _with_none(tp: Type) -> Type:
    p = get_proper_type(tp)
    if isinstance(p, NoneType) or (isinstance(p, UnionType) and any(
            isinstance(get_proper_type(i), NoneType) for i in p.items)):
        return tp
    return UnionType.make_union([tp, NoneType()])


def _optional_init(info: TypeInfo) -> None:
    """Make every ``__init__`` parameter optional (default None) and accept ``None``."""
    sym = info.names.get("__init__")
    fn = sym.node if sym is not None else None
    if not isinstance(fn, FuncDef) or not isinstance(fn.type, CallableType) or (
            sym is not None and not sym.plugin_generated):
        return  # a hand-written __init__ is left as written
    sig = fn.type
    # The first parameter is ``self`` when the signature still lists it.
    first = 1 if len(fn.arguments) == len(sig.arg_kinds) else 0
    kinds = [k if i < first else _OPTIONAL.get(k, k) for i, k in enumerate(sig.arg_kinds)]
    types = [t if i < first else _with_none(t) for i, t in enumerate(sig.arg_types)]
    fn.type = sig.copy_modified(arg_kinds=kinds, arg_types=types)
    for arg in fn.arguments[1:]:
        arg.kind = _OPTIONAL.get(arg.kind, arg.kind)
    fn.arg_kinds = [k if i == 0 else _OPTIONAL.get(k, k) for i, k in enumerate(fn.arg_kinds)]


_OPTIONAL = {ARG_POS: ARG_OPT, ARG_NAMED: ARG_NAMED_OPT}


def io_maker_hook(ctx: ClassDefContext) -> bool:
    """Second pass: the dataclass transform, then an all-optional ``__init__``.

    Field types stay as declared when read; the constructor accepts ``None`` or omission.
    """
    if not dataclasses_plugin.dataclass_class_maker_callback(ctx):
        return False
    _optional_init(ctx.cls.info)
    _add_signal_methods(ctx)
    return True


def _add_signal_methods(ctx: ClassDefContext) -> None:
    """The signal accessors ``@io`` adds at runtime (``_get_signal`` and friends)."""
    api = ctx.api
    text, anything = api.named_type("builtins.str"), AnyType(TypeOfAny.explicit)
    name = Argument(Var("name", text), text, None, ARG_POS)
    methods: list[tuple[str, list[Argument], Type]] = [
        ("_get_signal", [name], anything),
        ("_set_signal", [name, Argument(Var("value", anything), anything, None, ARG_POS)],
         NoneType()),
        ("_has_signal", [name], api.named_type("builtins.bool")),
        ("_signals", [], api.named_type("builtins.list", [text])),
    ]
    for method, args, ret in methods:
        if ctx.cls.info.get(method) is None:
            add_method_to_class(api, ctx.cls, method, args, ret)


# --------------------------------------------------------------------------- flow classes


def flow_class_hook(ctx: ClassDefContext, config: PluginConfig) -> None:
    """Signature rules and the step return rule on a flow class definition."""
    info = ctx.cls.info
    try:
        desc = describe_flow(info, analyze=partial(ctx.api.anal_type,
                                                   report_invalid_types=False))
    except Incomplete:
        if not ctx.api.final_iteration:
            ctx.api.defer()
        return
    if desc is None:
        return
    found = check_flow(desc, RuleOptions(strict_single_io=config.strict_single_io))
    step = step_def(info)
    # The analyser knows its module's file (not part of the plugin interface's types).
    module = getattr(ctx.api, "cur_mod_node", None)
    uses = step_uses(getattr(module, "path", None), ctx.cls, desc.inputs.composite)
    at: dict[tuple[int | None, int | None], Context] = {
        (acc.line, acc.column): node for acc, node in uses}
    found += check_accesses(desc, [acc for acc, _ in uses])

    def context_of(diag: Diagnostic) -> Context:
        loc = diag.location
        if (loc.line, loc.column) in at and diag.code in ("RET003", "RET006"):
            return at[(loc.line, loc.column)]
        return step if diag.code == "RET005" and step is not None else ctx.cls

    report(found, ctx.api.fail, ctx.api.msg.note, context_of)
    args = flow_arguments(info)
    if args is not None and desc.inputs.composite:
        install_view(ctx, args[0])


# --------------------------------------------------------------------------- handles


def _arg(ctx: MethodContext | FunctionContext, name: str) -> tuple[Expression, Type] | None:
    for i, formal in enumerate(ctx.callee_arg_names):
        if formal == name and ctx.args[i]:
            return ctx.args[i][0], ctx.arg_types[i][0]
    return None


def _positional(ctx: MethodContext | FunctionContext, index: int) -> tuple[Expression, Type] | None:
    """The ``index``-th formal parameter's argument (the operand of an operator)."""
    if len(ctx.args) > index and ctx.args[index]:
        return ctx.args[index][0], ctx.arg_types[index][0]
    return None


def matmul_hook(ctx: MethodContext) -> Type:
    """``flow @ clock``: check Trigger/Hybrid fields, and remember the flow on the handle."""
    ret = ctx.default_return_type
    flow_type = get_proper_type(ctx.type)
    if not isinstance(flow_type, Instance):
        return ret
    clock = _positional(ctx, 0)
    if clock is not None:
        read = clock_of(clock[0])
        if isinstance(read, Unknown):
            read = ("", ())
        _check_clock(ctx, flow_type, read[0] or None, read[1])
    operand = left_operand(ctx.context)
    if operand is not None and flow_info_of(flow_type.type) is not None:
        report(unencodable_arguments(qualname(flow_type.type), operand), ctx.api.fail,
               ctx.api.msg.note, lambda _d: ctx.context)
    result = get_proper_type(ret)
    if isinstance(result, Instance) and result.type.fullname == TEMPORAL:
        handle = result.copy_modified()
        handle.extra_attrs = ExtraAttrs({FLOW_ATTR: flow_type})
        return handle
    return ret


def _check_clock(ctx: MethodContext, flow_type: Instance, kind: str | None,
                 fields: Sequence[str]) -> None:
    try:
        desc = describe_flow(flow_type.type, trigger_fields=fields, clock=kind)
    except Incomplete:
        return
    if desc is None:
        return
    report(check_node(desc), ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)


def keep_handle_hook(ctx: MethodContext) -> Type:
    """``handle.named(...)`` and friends return the same handle: keep its flow type."""
    if flow_of_handle(ctx.type) is not None:
        return ctx.type
    return ctx.default_return_type


def _check_edge(ctx: MethodContext | FunctionContext, src_type: Type, dst_type: Type,
                has_default_sync: bool = True, dst_expr: Expression | None = None,
                implicit_sync: bool = False, explicit_sync: bool = False) -> None:
    src_info, dst_info = flow_of_handle(src_type), flow_of_handle(dst_type)
    if src_info is None or dst_info is None:
        return
    map_arg, sync_arg, ec_arg = _arg(ctx, "map"), _arg(ctx, "sync"), _arg(ctx, "edge_config")
    pairs = literal_map(map_arg[0] if map_arg else None)
    sync = sync_of(sync_arg[0] if sync_arg else None, sync_arg[1] if sync_arg else None)
    ec = edge_config_of(ec_arg[0] if ec_arg else None)
    if isinstance(pairs, Unknown) or isinstance(sync, Unknown) or isinstance(ec, Unknown):
        return
    try:
        src, dst = describe_flow(src_info), describe_flow(dst_info)
    except Incomplete:
        return
    if src is None or dst is None:
        return
    desc = edge_desc(src, dst, pairs, sync, ec, has_default_sync, implicit_sync)
    resolution = resolve_edge(desc)
    found = list(resolution.diagnostics)
    if explicit_sync:
        found += check_explicit_sync(desc, resolution.pairs)
    if dst_expr is not None:
        found += fan_in(ctx.api.path, ctx.context, dst_expr, dst.name,
                        [d for _, d in resolution.pairs], desc.label)
    report(found, ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)


def _wiring(ctx: MethodContext | FunctionContext, args: Sequence[tuple[str, str | None]],
            ) -> bool:
    """RET110 for a flow wired without a clock; RET112 for one wired to itself.

    Returns whether the edge may still be judged (no clock problem found).
    """
    found: list[Diagnostic] = []
    for formal, role in args:
        arg = _arg(ctx, formal)
        proper = get_proper_type(arg[1]) if arg is not None else None
        if isinstance(proper, Instance) and flow_info_of(proper.type) is not None:
            found.append(unclocked(qualname(proper.type), role))
    src, dst = _arg(ctx, "src"), _arg(ctx, "dst")
    if (not found and src is not None and dst is not None
            and isinstance(src[0], NameExpr) and isinstance(dst[0], NameExpr)
            and src[0].fullname and src[0].fullname == dst[0].fullname):
        flow = flow_of_handle(src[1])
        found.append(self_loop(qualname(flow) if flow is not None else src[0].name))
    if not found:
        handles = []
        for formal, _role in args:
            arg = _arg(ctx, formal)
            flow = flow_of_handle(arg[1]) if arg is not None else None
            if arg is not None and flow is not None:
                handles.append((arg[0], qualname(flow)))
        found += foreign_flow(ctx.api.path, ctx.context, _receiver(ctx), handles)
        found += _owned_elsewhere(ctx, args)
    report(found, ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)
    return not found


def _owned_elsewhere(ctx: MethodContext | FunctionContext,
                     args: Sequence[tuple[str, str | None]]) -> list[Diagnostic]:
    """RET111 for handles returned by another pipeline variable's ``add``."""
    pipe = global_name(_receiver(ctx))
    out = []
    for formal, _role in args:
        arg = _arg(ctx, formal)
        owner = owner_of_handle(arg[1]) if arg is not None else None
        flow = flow_of_handle(arg[1]) if arg is not None else None
        if arg is not None and owner and flow and pipe is not None and owner != pipe:
            out.append(foreign(qualname(flow), literal_attr(arg[1], NAME_ATTR) or owner))
    return out


def _receiver(ctx: MethodContext | FunctionContext) -> Expression | None:
    """``pipe`` in ``pipe.connect(...)`` (None for module-level functions)."""
    call = ctx.context
    if isinstance(ctx, MethodContext) and isinstance(call, CallExpr) and isinstance(
            call.callee, MemberExpr):
        return call.callee.expr
    return None


def add_hook(ctx: MethodContext) -> Type:
    """``pipe.add(flow)``: the flow must carry a clock (RET110), and one pipeline (RET111).

    The handle it returns remembers the pipeline variable, so a later ``connect`` of
    that handle in another pipeline is RET111.
    """
    _wiring(ctx, [("tf", None)])
    arg, pipe = _arg(ctx, "tf"), global_name(_receiver(ctx))
    handle = get_proper_type(arg[1]) if arg is not None else None
    if pipe is None or not isinstance(handle, Instance) or flow_of_handle(handle) is None:
        return ctx.default_return_type
    attrs = dict(handle.extra_attrs.attrs) if handle.extra_attrs else {}
    text = ctx.api.named_generic_type("builtins.str", [])
    attrs[OWNER_ATTR] = LiteralType(pipe, text)
    attrs[NAME_ATTR] = LiteralType(literal_attr(ctx.type, NAME_ATTR) or pipe.rsplit(".")[-1],
                                   text)
    owned = handle.copy_modified()
    owned.extra_attrs = ExtraAttrs(attrs)
    return owned


def connect_hook(ctx: MethodContext | FunctionContext) -> Type:
    """``pipe.connect(a, b, ...)`` / ``retriever.connect(a, b, ...)``."""
    src, dst = _arg(ctx, "src"), _arg(ctx, "dst")
    if not _wiring(ctx, [("src", "source"), ("dst", "destination")]):
        return ctx.default_return_type
    if src is not None and dst is not None:
        # connect() needs sync= unless the module sets a default (RET108).
        _check_edge(ctx, src[1], dst[1], module_sets_default_sync(ctx.api.path), dst[0])
    return ctx.default_return_type


def then_hook(ctx: MethodContext, config: PluginConfig | None = None) -> Type:
    """``a.then(b, ...)`` and ``a >> b``: check the edge; the result is ``b``'s handle.

    These have no place for a sync policy: they use the default, else ``Latest()``
    (with the ``explicit_sync`` option they need ``sync=`` or a default, RET108).
    """
    other = _arg(ctx, "other") or _positional(ctx, 0)
    if other is None:
        return ctx.default_return_type
    explicit = config is not None and config.explicit_sync
    _check_edge(ctx, ctx.type, other[1],
                module_sets_default_sync(ctx.api.path) if explicit else True,
                implicit_sync=True, explicit_sync=explicit)
    if flow_of_handle(other[1]) is not None:
        return other[1]
    return ctx.default_return_type


def pipeline_hook(ctx: FunctionContext) -> Type:
    """``Pipeline("name", ...)``: judge literal values, and keep a literal name on the type.

    Messages about a pipeline (RET111) then name it as the runtime does.
    """
    ret = values_hook(ctx, "retriever.flow.pipeline.Pipeline")
    name = _arg(ctx, "name")
    result = get_proper_type(ret)
    if name is None or not isinstance(name[0], StrExpr) or not isinstance(result, Instance):
        return ret
    named = result.copy_modified()
    named.extra_attrs = ExtraAttrs({NAME_ATTR: LiteralType(
        name[0].value, ctx.api.named_generic_type("builtins.str", []))})
    return named
