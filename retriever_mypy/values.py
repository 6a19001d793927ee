"""Literal parameter values (RET200) and the default sync policy (RET108) as mypy sees them.

Constructors of clocks, adapters and edge configs validate their arguments at run time
with :mod:`retriever.contract.values`; here the same functions judge the arguments that
are literals in the source (``Rate(hz=0)``, ``Window(1.0, agg="median")``), so mypy
reports them at the call with the same code and words. Non-literal arguments are left
to the other two front ends.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from mypy.nodes import (
    ComplexExpr,
    Expression,
    FloatExpr,
    IntExpr,
    NameExpr,
    StrExpr,
    UnaryExpr,
)
from mypy.plugin import FunctionContext
from mypy.types import Type

from retriever.contract import values as v
from retriever.contract.diagnostics import Diagnostic

from .codes import report

Check = Callable[[object], Diagnostic | None]


class _NotLiteral:
    """Marker: the argument is not a literal."""


NOT_LITERAL = _NotLiteral()


def literal_value(expr: Expression) -> object:
    """The Python value of a literal argument, else :data:`NOT_LITERAL`."""
    if isinstance(expr, (IntExpr, FloatExpr, StrExpr)):
        return expr.value
    if isinstance(expr, ComplexExpr):
        return NOT_LITERAL
    if isinstance(expr, UnaryExpr) and expr.op in "-+" and isinstance(
            expr.expr, (IntExpr, FloatExpr)):
        return -expr.expr.value if expr.op == "-" else expr.expr.value
    if isinstance(expr, NameExpr) and expr.fullname in (
            "builtins.True", "builtins.False", "builtins.None"):
        return {"builtins.True": True, "builtins.False": False}.get(expr.fullname)
    return NOT_LITERAL


def _hz(clock: str) -> Check:
    return lambda value: v.hz_problem(value, clock)


def _seconds(owner: str, param: str, positive: bool = False) -> Check:
    return lambda value: v.seconds_problem(owner, param, value, positive=positive)


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


_CLOCK = "retriever.flow.clock."
_ADAPTER = "retriever.flow.adapter."
#: Constructor -> checks of its parameters, by parameter name.
CHECKS: dict[str, dict[str, Check]] = {
    _CLOCK + "Rate": {"hz": _hz("Rate"), "on_lag": v.on_lag_problem},
    _CLOCK + "Tick": {"hz": _hz("Tick"), "on_lag": v.on_lag_problem},
    _CLOCK + "Hybrid": {"hz": _hz("Hybrid"), "on_lag": v.on_lag_problem},
    _ADAPTER + "Hold": {"debounce": _seconds("Hold", "debounce")},
    _ADAPTER + "Window": {"duration": _seconds("Window", "duration"), "agg": v.agg_problem},
    _ADAPTER + "Events": {"duration": _seconds("Events", "duration")},
    _ADAPTER + "Exact": {"tolerance": _seconds("Exact", "tolerance")},
    _ADAPTER + "Chunking": {"dt": _seconds("Chunking", "dt", positive=True)},
    "retriever.flow.edge.EdgeConfig": {"qsize": v.qsize_problem,
                                       "on_full": v.on_full_problem},
    "retriever.flow.pipeline.Pipeline": {"default_on_lag": _optional(v.on_lag_problem)},
    "retriever.flow.settings.init": {"default_on_lag": _optional(v.on_lag_problem)},
}


def values_hook(ctx: FunctionContext, fullname: str) -> Type:
    """Judge the literal arguments of a clock/adapter/edge-config constructor call."""
    checks = CHECKS.get(fullname, {})
    found: list[Diagnostic] = []
    for formal, actuals in zip(ctx.callee_arg_names, ctx.args, strict=False):
        check = checks.get(formal or "")
        if check is None or len(actuals) != 1:
            continue
        value = literal_value(actuals[0])
        if value is NOT_LITERAL:
            continue
        diag = check(value)
        if diag is not None:
            found.append(diag)
    report(found, ctx.api.fail, ctx.api.msg.note, lambda _d: ctx.context)
    return ctx.default_return_type


# --------------------------------------------------------------------------- RET108

#: ``default_sync=`` given a value other than ``None`` somewhere in a module.
_DEFAULT_SYNC = re.compile(r"\bdefault_sync\s*=\s*(?!None\b)[^\s,)]")


@lru_cache(maxsize=512)
def _sets_default_sync(path: str, _stamp: Any) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return _DEFAULT_SYNC.search(fh.read()) is not None
    except OSError:
        return True  # cannot tell: do not report a missing sync


def module_sets_default_sync(path: str | None) -> bool:
    """Whether the module at ``path`` sets a default sync policy.

    That is ``retriever.init(default_sync=...)`` or ``Pipeline(default_sync=...)`` with a
    value other than ``None``. The plugin cannot follow defaults set in another module
    or at run time, so such a call anywhere in the module counts for all of it.
    """
    if not path:
        return True
    try:
        stamp: Any = os.stat(path).st_mtime_ns
    except OSError:
        return True
    return _sets_default_sync(path, stamp)
