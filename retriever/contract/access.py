"""How ``step()`` reads its input: judging attribute and signal accesses (RET003, RET006).

Each front end lists what a flow's ``step`` does with its input parameter — attributes
read (``inp.x``, ``inp.Imu``) and literal signal names (``inp._get_signal("Imu.x")``) —
as :class:`Access` records with their source positions; :func:`check_accesses` judges
them against the input side's ports, exactly as the composite view does at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .catalogue import RULES
from .diagnostics import Diagnostic, Location
from .model import FlowDesc
from .ports import port_table

#: Signal accessors whose first argument is a port name.
SIGNAL_METHODS = frozenset({"_get_signal", "_set_signal", "_has_signal"})
_ACTION = {"attr": "read", "_get_signal": "read", "_set_signal": "write",
           "_has_signal": "test"}


@dataclass(frozen=True)
class Access:
    """One use of the step input: ``kind`` is ``attr`` or a signal method name."""

    kind: str
    name: str
    line: int
    column: int = 1


def _signal(flow: FlowDesc, acc: Access, loc: Location) -> Diagnostic | None:
    table = port_table(flow.inputs)
    if "." in acc.name and table.composite:
        alias = acc.name.split(".", 1)[0]
        if alias not in table.aliases:
            return RULES["RET006"].diag(
                f"{flow.name}.step: no envelope {alias!r} in the input view",
                hint="envelopes are: " + ", ".join(table.aliases), location=loc)
    res = table.resolve(acc.name)
    if res.port is not None:
        return None
    if res.ambiguous:
        return RULES["RET003"].diag(
            f"{flow.name}.step: cannot {_ACTION[acc.kind]} {acc.name!r}: several envelopes "
            f"have it ({', '.join(res.ambiguous)})",
            hint="qualify it as one of: " + ", ".join(res.ambiguous), location=loc)
    return RULES["RET006"].diag(
        f"{flow.name}.step: the input has no port {acc.name!r}",
        hint="input ports are: " + (", ".join(table.names()) or "none"), location=loc)


def _attribute(flow: FlowDesc, acc: Access, loc: Location) -> Diagnostic | None:
    table = port_table(flow.inputs)
    if not table.composite or acc.name in table.aliases or acc.name.startswith("_"):
        return None  # single envelopes: the type checker itself knows their attributes
    found = table.by_field(acc.name)
    if len(found) > 1:
        spelled = ", ".join(f"{p.alias}.{p.field}" for p in found)
        return RULES["RET003"].diag(
            f"{flow.name}.step: cannot read {acc.name!r}: several envelopes have it "
            f"({spelled})", hint="qualify it as one of: " + spelled, location=loc)
    if not found:
        return RULES["RET006"].diag(
            f"{flow.name}.step: the input view has no envelope or field {acc.name!r}",
            hint="envelopes are: " + ", ".join(table.aliases), location=loc)
    return None


def check_accesses(flow: FlowDesc, accesses: Iterable[Access]) -> list[Diagnostic]:
    """RET003 (ambiguous) and RET006 (unknown) for what ``step`` reads from its input."""
    if flow.inputs.is_none:
        return []
    out = []
    for acc in accesses:
        loc = Location(flow.location.file, acc.line, acc.column, flow.name, acc.name)
        judge = _attribute if acc.kind == "attr" else _signal
        diag = judge(flow, acc, loc)
        if diag is not None:
            out.append(diag)
    return out


# --------------------------------------------------------------------------- Python source


def step_accesses(cls_node: ast.ClassDef) -> list[Access]:
    """The accesses to ``step``'s input parameter in a class's syntax tree."""
    for stmt in cls_node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "step":
            params = stmt.args.posonlyargs + stmt.args.args
            if len(params) < 2:
                return []
            return sorted(_uses(stmt, params[1].arg), key=lambda a: (a.line, a.column))
    return []


def _uses(fn: ast.AST, param: str) -> Iterator[Access]:
    """Attribute reads of ``param`` and its literal-name signal calls, in one walk."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == param:
                yield Access("attr", node.attr, node.lineno, node.col_offset + 1)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SIGNAL_METHODS and isinstance(node.func.value, ast.Name)
                and node.func.value.id == param and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            yield Access(node.func.attr, node.args[0].value, node.lineno, node.col_offset + 1)
