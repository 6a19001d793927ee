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
    Context,
    Expression,
    FuncDef,
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
    NoneType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

from retriever.contract.diagnostics import Diagnostic
from retriever.contract.rules import RuleOptions, check_clock, check_flow, resolve_edge

from .codes import report
from .config import PluginConfig
from .describe import (
    FLOW_ATTR,
    META,
    TEMPORAL,
    Incomplete,
    Unknown,
    clock_of,
    describe_flow,
    edge_config_of,
    edge_desc,
    envelope_port_names,
    flow_of_handle,
    literal_map,
    step_def,
    sync_of,
)

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

    def context_of(diag: Diagnostic) -> Context:
        return step if diag.code == "RET005" and step is not None else ctx.cls

    report(found, ctx.api.fail, ctx.api.msg.note, context_of)


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
        if not isinstance(read, Unknown) and read[1]:
            _check_clock(ctx, flow_type, read[0], read[1])
    result = get_proper_type(ret)
    if isinstance(result, Instance) and result.type.fullname == TEMPORAL:
        handle = result.copy_modified()
        handle.extra_attrs = ExtraAttrs({FLOW_ATTR: flow_type})
        return handle
    return ret


def _check_clock(ctx: MethodContext, flow_type: Instance, kind: str,
                 fields: Sequence[str]) -> None:
    try:
        desc = describe_flow(flow_type.type, trigger_fields=fields, clock=kind)
    except Incomplete:
        return
    if desc is None:
        return
    report(check_clock(desc), ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)


def keep_handle_hook(ctx: MethodContext) -> Type:
    """``handle.named(...)`` and friends return the same handle: keep its flow type."""
    if flow_of_handle(ctx.type) is not None:
        return ctx.type
    return ctx.default_return_type


def _check_edge(ctx: MethodContext | FunctionContext, src_type: Type, dst_type: Type,
                implicit_sync: bool = False) -> None:
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
    found = resolve_edge(edge_desc(src, dst, pairs, sync, ec, implicit_sync)).diagnostics
    report(found, ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)


def connect_hook(ctx: MethodContext | FunctionContext) -> Type:
    """``pipe.connect(a, b, ...)`` / ``retriever.connect(a, b, ...)``."""
    src, dst = _arg(ctx, "src"), _arg(ctx, "dst")
    if src is not None and dst is not None:
        _check_edge(ctx, src[1], dst[1])
    return ctx.default_return_type


def then_hook(ctx: MethodContext) -> Type:
    """``a.then(b, ...)`` and ``a >> b``: check the edge; the result is ``b``'s handle."""
    other = _arg(ctx, "other") or _positional(ctx, 0)
    if other is None:
        return ctx.default_return_type
    # then()/>> fall back to Latest() without sync=, as Pipeline does: never RET108.
    _check_edge(ctx, ctx.type, other[1], implicit_sync=True)
    if flow_of_handle(other[1]) is not None:
        return other[1]
    return ctx.default_return_type
