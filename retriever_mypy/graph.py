"""Rules that need more than one call: fan-in (RET107) and foreign flows (RET111).

The plugin follows the module-level variables of a module in source order: which
pipeline variable a handle variable was added to, and which destination ports of a
handle variable a connection already drives. mypy checks a module's top level once per
pass, in order; when it starts over (a new pass, or the daemon re-checking a file),
the record of every call at or after the current position is dropped first, so the
result does not depend on how often a module is checked. Handles kept in lists, built
in loops or passed between modules are not followed (the other front ends see them).

Also RET109 for the constructor arguments the plugin can judge from the syntax alone:
a ``lambda`` or a function passed to a flow's constructor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mypy.nodes import (
    GDEF,
    CallExpr,
    Context,
    Expression,
    FuncDef,
    LambdaExpr,
    NameExpr,
    OpExpr,
    RefExpr,
)

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic


def snake(name: str) -> str:
    """A flow's default node name, as ``Pipeline.add`` gives it (``MyFlow`` -> ``my_flow``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def global_name(expr: Expression | None) -> str | None:
    """The full name of a module-level variable reference, else None."""
    if isinstance(expr, NameExpr) and expr.kind == GDEF and expr.fullname:
        return expr.fullname
    return None


@dataclass
class _Call:
    position: tuple[int, int]
    pipeline: str | None = None
    handles: tuple[str, ...] = ()
    driven: tuple[tuple[str, str, str], ...] = ()  # (handle, destination port, edge label)


@dataclass
class _Module:
    calls: list[_Call] = field(default_factory=list)

    def rewind(self, position: tuple[int, int]) -> None:
        self.calls = [c for c in self.calls if c.position < position]


_MODULES: dict[str, _Module] = {}


def _module(path: str | None, ctx: Context) -> tuple[_Module, tuple[int, int]]:
    position = (ctx.line, ctx.column)
    state = _MODULES.setdefault(path or "", _Module())
    state.rewind(position)
    return state, position


def foreign_flow(path: str | None, ctx: Context, pipeline: Expression | None,
                 handles: list[tuple[Expression, str]]) -> list[Diagnostic]:
    """RET111 for handle variables already added to another pipeline variable."""
    state, position = _module(path, ctx)
    pipe = global_name(pipeline)
    out: list[Diagnostic] = []
    names = []
    for expr, flow in handles:
        name = global_name(expr)
        if name is None or pipe is None:
            continue
        owner = next((c.pipeline for c in state.calls if name in c.handles), None)
        if owner is not None and owner != pipe:
            out.append(foreign(flow, owner))
        elif owner is None:
            names.append(name)
    state.calls.append(_Call(position, pipe, tuple(names)))
    return out


def foreign(flow: str, owner: str) -> Diagnostic:
    """RET111: flow class ``flow`` was already added to pipeline ``owner``.

    ``owner`` is the pipeline's literal name when known, else its variable.
    """
    return RULES["RET111"].diag(
        f"flow {snake(flow)!r} already belongs to pipeline {owner.rsplit('.', 1)[-1]!r}",
        hint="create a new flow instance for this pipeline")


def fan_in(path: str | None, ctx: Context, dst: Expression | None, dst_flow: str,
           ports: list[str], label: str) -> list[Diagnostic]:
    """RET107 for destination ports of a handle variable already driven by a connection."""
    state, position = _module(path, ctx)
    name = global_name(dst)
    if name is None:
        return []
    out: list[Diagnostic] = []
    for port in ports:
        earlier = next((lab for c in state.calls for h, p, lab in c.driven
                        if h == name and p == port), None)
        if earlier is not None:
            out.append(RULES["RET107"].diag(
                f"input port {snake(dst_flow)}.{port} is driven by both {earlier} and {label}"))
    state.calls.append(_Call(position, driven=tuple((name, p, label) for p in ports)))
    return out


def unencodable_arguments(flow: str, operand: Expression) -> list[Diagnostic]:
    """RET109 for a lambda or a function passed to a flow's constructor."""
    if not isinstance(operand, CallExpr):
        return []
    out = []
    position = 0
    for arg, name in zip(operand.args, operand.arg_names, strict=True):
        label = f"argument {name!r}" if name else f"argument {position}"
        if name is None:
            position += 1
        is_function = isinstance(arg, LambdaExpr) or (
            isinstance(arg, RefExpr) and isinstance(arg.node, FuncDef))
        if is_function:
            out.append(RULES["RET109"].diag(
                f"{snake(flow)}: constructor {label} of type function cannot be encoded "
                "without pickle"))
    return out


def left_operand(ctx: Context) -> Expression | None:
    """The left side of a binary operator expression (``flow`` in ``flow @ clock``)."""
    return ctx.left if isinstance(ctx, OpExpr) else None
