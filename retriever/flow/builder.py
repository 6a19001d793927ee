"""``PipelineBuilder``: the graph store and validator that ``Pipeline`` builds on.

A builder holds clocked flows and their connections, resolves each connection's ports
when it is made, and judges the whole graph with the contract rules
(:meth:`PipelineBuilder.diagnostics`). It has no ambient ``with`` scope and no runtime
methods besides ``validate`` (lowering to an ``IR`` through :mod:`.services`), which is
what the registry, the checker and other tooling need. :class:`~.pipeline.Pipeline`
adds the user-facing facade: ``with pipe:`` wiring, ``run``, ``step``, ``record`` and
``replay``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic, Location
from retriever.contract.errors import ConfigError, ValidationError
from retriever.contract.model import EdgeDesc, FlowDesc
from retriever.contract.ports import port_table
from retriever.contract.rules import (
    RuleOptions,
    check_explicit_sync,
    check_fan_in,
    check_node,
    check_signature,
    check_step_return,
    resolve_edge,
    self_loop,
    unclocked,
)
from retriever.contract.wire import to_json_value

from . import services
from .adapter import Adapter, Latest
from .base import Flow, init_arguments
from .clock import OnLagName, Rate, normalize_on_lag
from .context import is_collecting, report, user_location
from .describe import describe_flow, step_access_diagnostics
from .edge import EdgeConfig, check_edge_config
from .services import GraphIR
from .settings import settings
from .temporal import UNSET, TemporalFlow


@dataclass
class Connection:
    """One authored connection ``src -> dst`` with its resolved port pairs."""

    src: TemporalFlow
    dst: TemporalFlow
    map: dict[str, str] | None
    sync: Adapter | dict[str, Adapter] | None
    edge_config: dict[str, EdgeConfig]
    pairs: list[tuple[str, str]] = field(default_factory=list)
    location: Location = field(default_factory=Location)
    # The rule engine's verdict at connect time, and the default-sync state it assumed.
    checked: tuple[EdgeDesc, list[Diagnostic], bool] | None = None
    # Wired with then()/>>, which cannot take sync=: ports without a policy use the
    # pipeline's (or retriever.init's) default, else Latest().
    implicit_sync: bool = False

    @property
    def label(self) -> str:
        """``src -> dst``."""
        return f"{self.src.name} -> {self.dst.name}"

    def port_policy(self, src_port: str) -> tuple[Adapter | None, EdgeConfig]:
        """The adapter and merged queue config of one carried source port."""
        ec = self.edge_config
        cfg = ec.get(src_port, EdgeConfig()).merged_over(ec.get("*"))
        adapter = cfg.adapter
        if adapter is None:
            if isinstance(self.sync, dict):
                adapter = self.sync.get(src_port)
                if adapter is None:
                    short = src_port.split(".", 1)[-1]
                    adapter = self.sync.get(short)
            else:
                adapter = self.sync
        return adapter, cfg


def _snake(name: str) -> str:
    # ToyEnv -> toy_env, MPC -> mpc, MPCController -> mpc_controller
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class PipelineBuilder:
    """A graph of clocked flows and their connections, and its validation.

    ``default_sync`` and ``default_on_lag`` apply to this graph only and win over
    :func:`retriever.init`; a value set on a connection or clock always wins.
    ``validate()`` checks every rule at once and lowers the graph to an ``IR``; a
    registered pipeline factory may return a builder instead of an ``IR``.
    """

    def __init__(self, name: str = "pipeline", *, default_sync: Adapter | None = None,
                 default_on_lag: OnLagName | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{type(self).__name__}({name!r}): a pipeline name is a "
                              "non-empty string")
        if default_sync is not None and not isinstance(default_sync, Adapter):
            raise ConfigError(f"{type(self).__name__}(default_sync={default_sync!r}) is not "
                              "an adapter",
                              hint="pass an adapter instance, e.g. default_sync=Latest()")
        self.name = name
        self.default_sync = default_sync
        self.default_on_lag = normalize_on_lag(default_on_lag)
        self._nodes: dict[str, TemporalFlow] = {}
        self._connections: list[Connection] = []

    # ------------------------------------------------------------------ graph
    @property
    def nodes(self) -> list[TemporalFlow]:
        """Nodes in insertion order."""
        return list(self._nodes.values())

    @property
    def connections(self) -> list[Connection]:
        """Connections in authoring order."""
        return list(self._connections)

    def node(self, name: str) -> TemporalFlow:
        """The node called ``name``."""
        try:
            return self._nodes[name]
        except KeyError:
            raise ConfigError(f"pipeline {self.name!r} has no flow {name!r}",
                              hint="flows: " + ", ".join(self._nodes)) from None

    def add(self, tf: TemporalFlow, name: str | None = None) -> TemporalFlow:
        """Add a clocked flow (idempotent for a flow already here)."""
        if isinstance(tf, Flow):
            tf = self._unclocked(tf, None)
        if not isinstance(tf, TemporalFlow):
            raise ConfigError(f"{tf!r} is not a flow with a clock",
                              hint="add flow @ Rate(hz=...) and the like")
        if tf.pipeline is self:
            if name and name != tf.name:
                self.rename(tf, name)
            return tf
        if tf.pipeline is not None:
            diag = RULES["RET111"].diag(
                f"flow {tf.name!r} already belongs to pipeline {tf.pipeline.name!r}",
                hint="create a new flow instance for this pipeline", location=user_location())
            if not is_collecting():
                raise ConfigError(diag.message, hint=diag.hint, code="RET111")
            report([diag])  # a checked module goes on; the flow stays out of this graph
            return tf
        wanted = name or tf.name
        if wanted is not None:
            if wanted in self._nodes:
                raise ConfigError(f"pipeline {self.name!r} already has a flow {wanted!r}",
                                  hint="give each flow a unique name with .named(...)")
            final = wanted
        else:
            base = _snake(type(tf.flow).__name__)
            final, k = base, 2
            while final in self._nodes:
                final, k = f"{base}_{k}", k + 1
        tf.name = final
        tf.pipeline = self
        self._nodes[final] = tf
        return tf

    def rename(self, tf: TemporalFlow, name: str) -> None:
        """Rename a node of this pipeline."""
        if name in self._nodes and self._nodes[name] is not tf:
            raise ConfigError(f"pipeline {self.name!r} already has a flow {name!r}")
        if tf.name is not None:
            self._nodes.pop(tf.name, None)
        tf.name = name
        self._nodes[name] = tf

    def _as_node(self, obj: Any, role: str) -> TemporalFlow:
        if isinstance(obj, Flow):
            obj = self._unclocked(obj, role)
        return self.add(obj)

    @staticmethod
    def _unclocked(flow: Flow[Any, Any], role: str | None) -> TemporalFlow:
        """RET110: raise; while collecting, record it once and go on with a stand-in clock."""
        report([unclocked(type(flow).__qualname__, role, user_location())])
        return flow @ Rate(hz=1.0)

    def connect(self, src: TemporalFlow, dst: TemporalFlow, *, sync: Any = UNSET,
                map: Mapping[str, str] | None = None, edge_config: Any = None,
                ) -> Connection:
        """Connect ``src``'s output ports to ``dst``'s input ports.

        ``map`` pairs source ports with destination ports (default ``{"*": "*"}``:
        same field names). ``sync`` is the sampling adapter, one for all ports or a dict
        per source port; it is required unless a default was set. ``edge_config`` sets
        queue sizes and full-queue policy (``"*"`` for every port).
        """
        return self._connect(src, dst, sync=sync, map=map, edge_config=edge_config)

    def _connect(self, src: TemporalFlow, dst: TemporalFlow, *, sync: Any = UNSET,
                 map: Mapping[str, str] | None = None, edge_config: Any = None,
                 implicit_sync: bool = False) -> Connection:
        # ``implicit_sync``: the edge comes from then()/>> (see Connection.implicit_sync).
        s, d = self._as_node(src, "source"), self._as_node(dst, "destination")
        if sync is UNSET:
            sync = None
        elif sync is not None and not isinstance(sync, (Adapter, dict)):
            raise ConfigError(f"sync={sync!r} is not an adapter or a dict of adapters",
                              hint="pass sync=Latest() or sync={'port': Hold(0.1)}")
        if isinstance(sync, dict):
            for k, v in sync.items():
                if not isinstance(v, Adapter):
                    raise ConfigError(f"sync[{k!r}]={v!r} is not an adapter")
        if map is not None and not isinstance(map, Mapping):
            raise ConfigError("map must be a dict of source port -> destination port")
        conn = Connection(s, d, dict(map) if map is not None else None, sync,
                          check_edge_config(edge_config), location=user_location(),
                          implicit_sync=implicit_sync and sync is None)
        if s is d:
            report([self_loop(str(s.name), conn.location)])
        desc = self._edge_desc(conn)
        resolution = resolve_edge(desc)
        conn.pairs = resolution.pairs
        conn.checked = (desc, resolution.diagnostics, desc.has_default_sync)
        self._connections.append(conn)
        if resolution.diagnostics:
            try:
                report(resolution.diagnostics)
            except Exception:
                self._connections.pop()
                raise
        return conn

    # ------------------------------------------------------------------ descriptions
    def default_sync_for(self) -> Adapter | None:
        """The sync used by connections that set none (pipeline, then process default)."""
        return self.default_sync or settings().default_sync

    def sync_for(self, conn: Connection, src_port: str) -> tuple[Adapter | None, EdgeConfig]:
        """The adapter one carried port of ``conn`` samples with, and its queue config.

        The connection's own policy wins, then the default; a ``then``/``>>`` edge falls
        back to ``Latest()``. None means the port has no policy (RET108).
        """
        adapter, cfg = conn.port_policy(src_port)
        adapter = adapter or self.default_sync_for()
        if adapter is None and conn.implicit_sync:
            adapter = Latest()
        return adapter, cfg

    def default_on_lag_for(self) -> str:
        """The lag policy for clocks that set none."""
        return self.default_on_lag or settings().default_on_lag or "warn"

    def flow_desc(self, tf: TemporalFlow) -> FlowDesc:
        """The contract description of one node."""
        return describe_flow(type(tf.flow), tf.name, tf.clock)

    def _edge_desc(self, conn: Connection) -> EdgeDesc:
        sync = conn.sync
        ec = conn.edge_config
        ports_with_adapter = tuple(k for k, c in ec.items() if c.adapter is not None)
        changing = []
        for key, adapter in (sync.items() if isinstance(sync, dict) else []):
            if adapter.transforms_type:
                changing.append(key)
        if isinstance(sync, Adapter) and sync.transforms_type:
            changing.append("*")
        for key, c in ec.items():
            if c.adapter is not None and c.adapter.transforms_type:
                changing.append(key)
        kinds: list[tuple[str, str]] = []
        fallback = sync if sync is not None else self.default_sync_for()
        if fallback is None and conn.implicit_sync:
            fallback = Latest()
        if isinstance(fallback, Adapter):
            kinds.append(("*", fallback.output_kind()))
        for key, adapter in (sync.items() if isinstance(sync, dict) else []):
            kinds.append((key, adapter.output_kind()))
        kinds += [(k, c.adapter.output_kind()) for k, c in ec.items() if c.adapter is not None]
        desc_src = self.flow_desc(conn.src)
        if "*" in changing:
            changing = port_table(desc_src.outputs).names()
        return EdgeDesc(
            src=desc_src,
            dst=self.flow_desc(conn.dst),
            map=tuple(conn.map.items()) if conn.map is not None else None,
            sync_all=isinstance(sync, Adapter),
            sync_ports=tuple(sync) if isinstance(sync, dict) else (),
            edge_config_ports=tuple(ec),
            edge_config_adapter_ports=ports_with_adapter,
            type_changing_ports=tuple(changing),
            port_adapters=tuple(kinds),
            has_default_sync=self.default_sync_for() is not None,
            implicit_sync=conn.implicit_sync,
            location=conn.location,
        )

    def diagnostics(self, *, strict_single_io: bool = False,
                    explicit_sync: bool = False) -> list[Diagnostic]:
        """Every contract and authoring problem of the graph (empty when valid).

        ``explicit_sync``: ``then``/``>>`` edges need a sync or a default too (RET108).
        """
        opts = RuleOptions(strict_single_io=strict_single_io, explicit_sync=explicit_sync)
        out: list[Diagnostic] = []
        seen_classes: set[type] = set()
        for tf in self._nodes.values():
            cls = type(tf.flow)
            desc = self.flow_desc(tf)
            if cls.__retriever_signature__ is None:
                out.append(RULES["RET001"].diag(
                    f"{tf.name}: {cls.__qualname__} has no concrete Flow[I, O] signature",
                    location=Location(flow=tf.name)))
                continue
            # Signature rules once per class (at the class); clock rules per node (at `@`).
            if cls not in seen_classes:
                out.extend(check_signature(desc, opts) + check_step_return(desc)
                           + step_access_diagnostics(cls, desc))
            seen_classes.add(cls)
            out.extend(check_node(replace(desc, location=tf.location)))
            out.extend(self._init_config_diagnostics(tf))
        edges: list[tuple[EdgeDesc, list[tuple[str, str]]]] = []
        has_default = self.default_sync_for() is not None
        for conn in self._connections:
            if conn.checked is not None and conn.checked[2] == has_default:
                edesc, efound, _ = conn.checked
                out.extend(efound)
                edges.append((edesc, conn.pairs))
                continue
            edesc = self._edge_desc(conn)
            res = resolve_edge(edesc)
            out.extend(res.diagnostics)
            edges.append((edesc, res.pairs))
        out.extend(check_fan_in(edges))
        if opts.explicit_sync:
            for edesc, pairs in edges:
                out.extend(check_explicit_sync(edesc, pairs))
        return _dedupe(out)

    def _init_config_diagnostics(self, tf: TemporalFlow) -> list[Diagnostic]:
        try:
            args, kwargs = init_arguments(tf.flow, tf.name)
        except ConfigError as exc:
            return [RULES["RET109"].diag(exc.message, hint=exc.hint,
                                         location=replace(tf.location, flow=tf.name))]
        out = []
        named = [(f"argument {i}", v) for i, v in enumerate(args)]
        named += [(f"argument {k!r}", v) for k, v in kwargs.items()]
        for label, value in named:
            try:
                to_json_value(value, label)
            except ConfigError as exc:
                out.append(RULES["RET109"].diag(
                    f"{tf.name}: constructor {exc.message}", hint=exc.hint,
                    location=replace(tf.location, flow=tf.name)))
        return out

    def check(self, *, strict_single_io: bool = False, explicit_sync: bool = False) -> None:
        """Raise :class:`ValidationError` listing every problem, if there is any."""
        found = self.diagnostics(strict_single_io=strict_single_io, explicit_sync=explicit_sync)
        if found:
            raise ValidationError(
                found, title=f"pipeline {self.name!r} is invalid ({len(found)} problem"
                             f"{'s' if len(found) != 1 else ''})")

    def __iter__(self) -> Iterator[TemporalFlow]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, flows={len(self._nodes)}, "
                f"connections={len(self._connections)})")

    def validate(self, *, strict_single_io: bool = False, explicit_sync: bool = False,
                 ) -> GraphIR:
        """Check the graph (every problem in one error) and lower it to an ``IR``.

        ``strict_single_io`` rejects composite signatures; ``explicit_sync`` requires a
        sync (or default) on ``then``/``>>`` edges as on ``connect``.
        """
        return services.compiler().validate(self, strict_single_io=strict_single_io,
                                            explicit_sync=explicit_sync)


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str, int | None]] = set()
    out = []
    for d in diags:
        key = (d.code, d.message, d.location.line if d.location.file else None)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
