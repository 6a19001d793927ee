"""The rule engine: pure functions from descriptions to diagnostics.

This module is the single implementation of every contract rule. The mypy plugin, the
``retriever check`` command and ``Pipeline.validate()`` all call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .catalogue import RULES
from .diagnostics import Diagnostic, Location
from .model import EdgeDesc, ElementKind, FlowDesc, SideDesc
from .ports import PortTable, port_table
from .sampling import SAME, describe_kind, sampled_type
from .typenames import compatible


@dataclass(frozen=True)
class RuleOptions:
    """Switches of the rule engine.

    ``strict_single_io`` rejects composite signatures (RET004). ``explicit_sync`` takes
    away the ``Latest()`` fallback of ``then``/``>>`` edges: like ``connect``, they then
    need ``sync=`` or a default (RET108).
    """

    strict_single_io: bool = False
    explicit_sync: bool = False


def _loc(base: Location, **kw: str | None) -> Location:
    return Location(base.file, base.line, base.column,
                    kw.get("flow", base.flow), kw.get("port", base.port), kw.get("edge", base.edge))


# --------------------------------------------------------------------------- signatures


def check_side(flow: FlowDesc, side: SideDesc, which: str) -> list[Diagnostic]:
    """Rules RET001 and RET002 on one side of a signature."""
    out: list[Diagnostic] = []
    loc = _loc(flow.location, flow=flow.name)
    for el in side.elements:
        if el.kind is ElementKind.OTHER:
            out.append(RULES["RET001"].diag(
                f"{flow.name}: {which} element {el.name!r} is not an @io envelope or None",
                location=loc))
        for port, tname in el.opaque:
            out.append(RULES["RET008"].diag(
                f"{flow.name}: {which} port {el.name.rsplit('.', 1)[-1]}.{port} has type "
                f"{tname}, which cannot travel without pickle", location=loc))
    kinds = {el.kind for el in side.elements}
    if side.composite and ElementKind.NONE in kinds and len(side.elements) > 1:
        out.append(RULES["RET002"].diag(
            f"{flow.name}: {which} tuple mixes None with other types", location=loc))
    return out


def check_signature(flow: FlowDesc, options: RuleOptions = RuleOptions()) -> list[Diagnostic]:
    """Signature rules: element compatibility, None mixing, strict single-IO."""
    out = check_side(flow, flow.inputs, "input") + check_side(flow, flow.outputs, "output")
    if options.strict_single_io:
        for which, side in (("input", flow.inputs), ("output", flow.outputs)):
            if side.composite and len(side.elements) > 1:
                out.append(RULES["RET004"].diag(
                    f"{flow.name}: composite {which} signature "
                    f"({', '.join(e.name.rsplit('.', 1)[-1] for e in side.elements)}) "
                    "is not allowed in strict single-IO mode",
                    location=_loc(flow.location, flow=flow.name)))
    return out


def expected_return(flow: FlowDesc) -> str:
    """The canonical name of what ``step`` must return."""
    els = flow.outputs.elements
    if flow.outputs.is_none:
        return "None"
    if flow.outputs.composite and len(els) > 1:
        return "tuple[" + ", ".join(e.name for e in els) + "]"
    return els[0].name


def check_step_return(flow: FlowDesc) -> list[Diagnostic]:
    """RET005 on a declared ``step`` return annotation (absent annotations pass)."""
    if flow.step_return is None:
        return []
    want = expected_return(flow)
    got = flow.step_return
    ok = got == want or compatible(got, want)
    if not ok and want != "None":
        ok = got in (f"Union[{want}, None]", f"Union[None, {want}]") or (compatible(
            got, f"Union[None, {want}]") and got.startswith("Union["))
    if ok:
        return []
    return [RULES["RET005"].diag(
        f"{flow.name}.step returns {got}, but the flow's output type is {want}",
        location=_loc(flow.step_location or flow.location, flow=flow.name))]


def check_step_defined(flow: FlowDesc) -> list[Diagnostic]:
    """RET007: a flow put to use must define ``step`` (itself or in a base class)."""
    if flow.has_step:
        return []
    return [RULES["RET007"].diag(
        f"{flow.name} does not define step()", location=_loc(flow.location, flow=flow.name))]


def check_clock(flow: FlowDesc) -> list[Diagnostic]:
    """RET106: every Trigger/Hybrid field names one of the flow's input ports."""
    if not flow.trigger_fields:
        return []
    table = port_table(flow.inputs)
    out: list[Diagnostic] = []
    for name in flow.trigger_fields:
        res = table.resolve(name)
        if res.port is not None:
            continue
        if res.ambiguous:
            out.append(RULES["RET003"].diag(
                f"{flow.name}: trigger field {name!r} is ambiguous",
                hint="qualify it as one of: " + ", ".join(res.ambiguous),
                location=_loc(flow.location, flow=flow.name, port=name)))
            continue
        ports = ", ".join(table.names()) or "none (the flow has no inputs)"
        out.append(RULES["RET106"].diag(
            f"{flow.name}: trigger field {name!r} is not an input port of the flow",
            hint=f"input ports are: {ports}",
            location=_loc(flow.location, flow=flow.name, port=name)))
    return out


def check_flow(flow: FlowDesc, options: RuleOptions = RuleOptions()) -> list[Diagnostic]:
    """Every rule that concerns one flow alone."""
    return check_signature(flow, options) + check_step_return(flow) + check_clock(flow)


def check_node(flow: FlowDesc) -> list[Diagnostic]:
    """Rules about a flow put to use with a clock (``flow @ clock``), at that spot.

    A class without ``step`` may be an abstract base for others, so RET007 is judged
    where a flow is clocked, not where its class is defined.
    """
    return check_step_defined(flow) + check_clock(flow)


# --------------------------------------------------------------------------- edges


@dataclass
class EdgeResolution:
    """The port pairs an edge carries, and what was wrong with it."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _ports_list(table: PortTable) -> str:
    return ", ".join(table.names()) or "none"


def resolve_edge(edge: EdgeDesc) -> EdgeResolution:
    """Resolve an edge's map into (source port, destination port) pairs and check it.

    Rules: RET101, RET102, RET103, RET104, RET105, RET003, RET108.
    """
    res = EdgeResolution()
    src_t, dst_t = port_table(edge.src.outputs), port_table(edge.dst.inputs)
    loc = _loc(edge.location, edge=edge.label)
    mapping = edge.map if edge.map is not None else (("*", "*"),)
    seen: set[tuple[str, str]] = set()

    def add(pair: tuple[str, str]) -> None:
        if pair not in seen:
            seen.add(pair)
            res.pairs.append(pair)

    for s_name, d_name in mapping:
        if s_name == "*" and d_name == "*":
            _wildcard(src_t, dst_t, add, res, loc)
            continue
        s = src_t.resolve(s_name)
        d = dst_t.resolve(d_name)
        if s.port is None:
            res.diagnostics.append(_unresolved(
                "RET102", edge.src.name, "output", s_name, s.ambiguous, src_t, loc))
        if d.port is None:
            res.diagnostics.append(_unresolved(
                "RET103", edge.dst.name, "input", d_name, d.ambiguous, dst_t, loc))
        if s.port and d.port:
            add((s.port.name, d.port.name))
    if not res.pairs and not res.diagnostics:
        res.diagnostics.append(RULES["RET101"].diag(
            f"connection {edge.label} matches no port",
            hint=f"{edge.src.name} publishes [{_ports_list(src_t)}], {edge.dst.name} "
                 f"reads [{_ports_list(dst_t)}]; pass map={{'<out>': '<in>'}}",
            location=loc))
    _check_types(edge, src_t, dst_t, res, loc)
    _check_sync(edge, src_t, res, loc)
    return res


def _wildcard(src_t: PortTable, dst_t: PortTable, add: object, res: EdgeResolution,
              loc: Location) -> None:
    for sp in src_t.ports:
        candidates = dst_t.by_field(sp.field)
        if len(candidates) > 1:
            # The same qualified alias (Pose__1.x -> Pose__1.x) pairs first; else an
            # element of the same class name, when there is exactly one.
            same = [c for c in candidates if c.alias == sp.alias]
            if not same:
                same = [c for c in candidates
                        if c.alias.split("__")[0] == sp.alias.split("__")[0]]
            if len(same) == 1:
                candidates = same
            else:
                res.diagnostics.append(RULES["RET003"].diag(
                    f"source port {sp.name!r} matches several destination ports",
                    hint="map it explicitly to one of: "
                         + ", ".join(c.name for c in candidates), location=loc))
                continue
        if candidates:
            add((sp.name, candidates[0].name))  # type: ignore[operator]


def _unresolved(code: str, flow: str, side: str, name: str, ambiguous: Sequence[str],
                table: PortTable, loc: Location) -> Diagnostic:
    if ambiguous:
        return RULES["RET003"].diag(
            f"{side} port name {name!r} of {flow} is ambiguous",
            hint="qualify it as one of: " + ", ".join(ambiguous),
            location=Location(loc.file, loc.line, loc.column, flow, name, loc.edge))
    return RULES[code].diag(
        f"{flow} has no {side} port {name!r}",
        hint=f"{side} ports of {flow} are: {_ports_list(table)}",
        location=Location(loc.file, loc.line, loc.column, flow, name, loc.edge))


def _check_types(edge: EdgeDesc, src_t: PortTable, dst_t: PortTable, res: EdgeResolution,
                 loc: Location) -> None:
    kinds = {_canon(src_t, k): kind for k, kind in edge.port_adapters}
    for s_name, d_name in res.pairs:
        sp, dp = src_t.resolve(s_name).port, dst_t.resolve(d_name).port
        if sp is None or dp is None:
            continue
        kind = kinds.get(sp.name, kinds.get("*"))
        if kind is None and sp.name in edge.type_changing_ports:
            continue
        sampled = sampled_type(kind or SAME, sp.type)
        if sampled is None:
            continue  # an adapter whose output type is not declared
        if not compatible(sampled, dp.type):
            what = f"({sp.type})" if sampled == sp.type else (
                f"({sp.type}, sampled by {describe_kind(kind or SAME)} as {sampled})")
            res.diagnostics.append(RULES["RET104"].diag(
                f"{edge.src.name}.{sp.name} {what} cannot feed "
                f"{edge.dst.name}.{dp.name} ({dp.type})",
                location=Location(loc.file, loc.line, loc.column, edge.dst.name, dp.name,
                                  loc.edge)))


def _check_sync(edge: EdgeDesc, src_t: PortTable, res: EdgeResolution, loc: Location) -> None:
    carried = {s for s, _ in res.pairs}
    for key in edge.sync_ports:
        r = src_t.resolve(key)
        if r.port is None:
            res.diagnostics.append(_unresolved(
                "RET102", edge.src.name, "output", key, r.ambiguous, src_t, loc))
        elif carried and r.port.name not in carried:
            res.diagnostics.append(RULES["RET102"].diag(
                f"sync names {key!r}, which this connection does not carry",
                hint="carried ports: " + ", ".join(sorted(carried)), location=loc))
    for key in edge.edge_config_ports:
        if key == "*":
            continue
        r = src_t.resolve(key)
        if r.port is None:
            res.diagnostics.append(_unresolved(
                "RET102", edge.src.name, "output", key, r.ambiguous, src_t, loc))
    ec_adapters = {_canon(src_t, k) for k in edge.edge_config_adapter_ports}
    sync_set = {_canon(src_t, k) for k in edge.sync_ports}
    if edge.sync_all:
        sync_set = set(carried) | {"*"}
    wildcard_adapter = "*" in ec_adapters
    clash = sorted(p for p in ec_adapters & sync_set if p != "*")
    if wildcard_adapter and sync_set:
        clash = sorted((sync_set - {"*"}) or {"*"})
    for port in clash:
        res.diagnostics.append(RULES["RET105"].diag(
            f"connection {edge.label}: the adapter of port {port!r} is set in both "
            "sync and edge_config",
            location=Location(loc.file, loc.line, loc.column, edge.dst.name, port, loc.edge)))
    if not edge.implicit_sync:
        res.diagnostics.extend(_missing_sync(edge, carried, sync_set | ec_adapters, loc))


def _missing_sync(edge: EdgeDesc, carried: set[str], covered: set[str],
                  loc: Location) -> list[Diagnostic]:
    if edge.sync_all or edge.has_default_sync or not carried:
        return []
    missing = sorted(p for p in carried if p not in covered and "*" not in covered)
    if not missing:
        return []
    via = " (wired with then/>>; explicit-sync mode gives it no Latest() fallback)" if (
        edge.implicit_sync) else ""
    return [RULES["RET108"].diag(
        f"connection {edge.label} has no sync policy for port(s) {', '.join(missing)}{via}",
        location=loc)]


def check_explicit_sync(edge: EdgeDesc, pairs: Sequence[tuple[str, str]]) -> list[Diagnostic]:
    """RET108 for a ``then``/``>>`` edge without sync or default (``explicit_sync`` mode)."""
    if not edge.implicit_sync:
        return []
    src_t = port_table(edge.src.outputs)
    covered = {_canon(src_t, k) for k in (*edge.sync_ports, *edge.edge_config_adapter_ports)}
    return _missing_sync(edge, {s for s, _ in pairs}, covered,
                         _loc(edge.location, edge=edge.label))


def _canon(table: PortTable, name: str) -> str:
    if name == "*":
        return "*"
    r = table.resolve(name)
    return r.port.name if r.port else name


def check_fan_in(edges: Iterable[tuple[EdgeDesc, Sequence[tuple[str, str]]]]) -> list[Diagnostic]:
    """RET107: at most one connection drives each destination input port."""
    owner: dict[tuple[str, str], tuple[int, str]] = {}
    out: list[Diagnostic] = []
    for index, (edge, pairs) in enumerate(edges):
        for _, d in pairs:
            key = (edge.dst.name, d)
            if key in owner and owner[key][0] != index:
                out.append(RULES["RET107"].diag(
                    f"input port {edge.dst.name}.{d} is driven by both {owner[key][1]} "
                    f"and {edge.label}",
                    location=_loc(edge.location, flow=edge.dst.name, port=d, edge=edge.label)))
            else:
                owner[key] = (index, edge.label)
    return out


# --------------------------------------------------------------------------- wiring


def unclocked(flow: str, role: str | None = None, location: Location | None = None,
              ) -> Diagnostic:
    """RET110: a flow (class name ``flow``) was wired without a clock."""
    message = (f"the {role} {flow} was connected without a clock" if role
               else f"{flow} has no clock")
    return RULES["RET110"].diag(message, location=location)


def self_loop(flow: str, location: Location | None = None) -> Diagnostic:
    """RET112: a connection from a flow to itself."""
    return RULES["RET112"].diag(f"{flow} is connected to itself", location=location)
