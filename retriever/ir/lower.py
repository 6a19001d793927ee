"""Lowering: an authored graph (``Pipeline``, ``PipelineBuilder``) becomes an ``IR``."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from retriever.contract.errors import ValidationError
from retriever.contract.ports import PortTable, port_table
from retriever.contract.signature import Side
from retriever.contract.wire import to_json_value
from retriever.flow.base import init_arguments
from retriever.flow.builder import Connection, PipelineBuilder
from retriever.flow.edge import DEFAULT_ON_FULL
from retriever.flow.temporal import TemporalFlow

from .execution import build_execution
from .model import (
    IR,
    IR_VERSION,
    ClockIR,
    ElementIR,
    ExecutionGraph,
    NodeIR,
    PlacementIR,
    PortIR,
    SideIR,
)
from .resolve import identity, main_source_file


def _side_ir(side: Side) -> SideIR:
    aliases = iter(side.aliases())
    return SideIR(
        elements=[ElementIR(cls=identity(e), alias=next(aliases)) if e is not None
                  else ElementIR(cls=None) for e in side.elements],
        composite=side.composite,
    )


def _ports(table: PortTable) -> list[PortIR]:
    return [PortIR(name=p.name, alias=p.alias, field=p.field, type=p.type) for p in table.ports]


def _node_ir(pipe: PipelineBuilder, tf: TemporalFlow) -> NodeIR:
    cls = type(tf.flow)
    sig = cls.signature()
    desc = pipe.flow_desc(tf)
    args, kwargs = init_arguments(tf.flow, tf.name)
    clock = tf.clock.to_config()
    clock["on_lag"] = clock["on_lag"] or pipe.default_on_lag_for()
    ident = identity(cls)
    return NodeIR(
        id=str(tf.name),
        flow=ident,
        init={"args": [to_json_value(a, f"argument {i}") for i, a in enumerate(args)],
              "kwargs": {k: to_json_value(v, f"argument {k!r}") for k, v in kwargs.items()}},
        clock=ClockIR(**clock),
        inputs=_side_ir(sig.inputs),
        outputs=_side_ir(sig.outputs),
        input_ports=_ports(port_table(desc.inputs)),
        output_ports=_ports(port_table(desc.outputs)),
        placement=PlacementIR(machine=tf.machine, labels=dict(tf.labels)),
        restart=tf.restart,
        source_file=main_source_file() if ident.startswith("__main__:") else None,
    )


def _edge_ir(pipe: PipelineBuilder, conn: Connection, index: int) -> dict[str, Any]:
    ports = []
    for src_port, dst_port in conn.pairs:
        adapter, cfg = pipe.sync_for(conn, src_port)
        assert adapter is not None  # validation guarantees a sync policy (RET108)
        ports.append({
            "src_port": src_port, "dst_port": dst_port, "adapter": adapter.to_config(),
            "qsize": cfg.qsize or adapter.default_history,
            "on_full": cfg.on_full or DEFAULT_ON_FULL,
        })
    # Plain dicts checked and converted in one pass by IR.from_dict: msgspec does that in
    # bulk far faster than building tens of thousands of models one by one.
    return {"id": f"e{index}:{conn.src.name}->{conn.dst.name}", "src": str(conn.src.name),
            "dst": str(conn.dst.name), "ports": ports}


def lower(pipe: PipelineBuilder, *, strict_single_io: bool = False,
          explicit_sync: bool = False) -> IR:
    """Validate ``pipe`` (raising one error that lists every problem) and lower it."""
    with _no_gc():
        found = pipe.diagnostics(strict_single_io=strict_single_io,
                                 explicit_sync=explicit_sync)
    if found:
        n = len(found)
        raise ValidationError(
            found, title=f"pipeline {pipe.name!r} is invalid ({n} problem{'s' * (n != 1)})")
    with _no_gc():
        return IR.from_dict({
            "version": IR_VERSION, "name": pipe.name,
            "nodes": [_node_ir(pipe, tf) for tf in pipe.nodes],
            "edges": [_edge_ir(pipe, c, i) for i, c in enumerate(pipe.connections)],
            "metadata": {"strict_single_io": strict_single_io},
        })


@contextmanager
def _no_gc() -> Iterator[None]:
    # Lowering allocates many small objects and no cycles; generational GC passes over
    # a large graph would otherwise dominate the time of big pipelines.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class GraphCompilerImpl:
    """The ``Pipeline.validate``/``build_execution`` implementation
    (:class:`retriever.flow.services.GraphCompiler`)."""

    def validate(self, pipe: PipelineBuilder, *, strict_single_io: bool = False,
                 explicit_sync: bool = False) -> IR:
        """Validate and lower ``pipe``."""
        return lower(pipe, strict_single_io=strict_single_io, explicit_sync=explicit_sync)

    def build_execution(self, pipe: PipelineBuilder, *, policy: Any = "per-flow",
                        ) -> ExecutionGraph:
        """Validate ``pipe`` and partition it."""
        return build_execution(lower(pipe), policy=policy)
