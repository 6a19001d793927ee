"""Execution graphs: grouping IR nodes into partitions with placement hints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from retriever.contract.errors import IRError

from .model import IR, ExecutionGraph, NodeIR, PartitionIR, PlacementIR

POLICIES = ("per-flow", "single", "by-machine")


def _assign(ir: IR, policy: Any) -> tuple[str, dict[str, str]]:
    if isinstance(policy, str):
        if policy == "per-flow":
            return policy, {n.id: n.id for n in ir.nodes}
        if policy == "single":
            return policy, {n.id: "main" for n in ir.nodes}
        if policy == "by-machine":
            return policy, {n.id: n.placement.machine or "local" for n in ir.nodes}
        raise IRError(f"unknown partition policy {policy!r}",
                      hint=f"use one of {', '.join(POLICIES)}, a dict or a callable")
    if isinstance(policy, Mapping):
        missing = [n.id for n in ir.nodes if n.id not in policy]
        extra = [k for k in policy if k not in {n.id for n in ir.nodes}]
        if extra:
            raise IRError(f"partition map names unknown flows: {', '.join(extra)}")
        # Flows left out of the map get a partition of their own.
        return "custom", {n.id: str(policy.get(n.id, n.id)) for n in ir.nodes} | {
            m: m for m in missing}
    if callable(policy):
        fn: Callable[[NodeIR], Any] = policy
        return "custom", {n.id: str(fn(n)) for n in ir.nodes}
    raise IRError(f"partition policy {policy!r} is not a name, dict or callable")


def build_execution(ir: IR, *, policy: Any = "per-flow") -> ExecutionGraph:
    """Group the nodes of ``ir`` into partitions.

    Policies: ``per-flow`` (one partition per flow), ``single`` (all together),
    ``by-machine`` (by placement machine), a dict ``{flow: partition}`` or a callable
    ``node_ir -> partition``. Flows of one partition must agree on their machine.
    """
    name, assignment = _assign(ir, policy)
    order: list[str] = []
    members: dict[str, list[str]] = {}
    for n in ir.nodes:
        pid = assignment[n.id]
        if pid not in members:
            members[pid] = []
            order.append(pid)
        members[pid].append(n.id)
    partitions = []
    nodes = {n.id: n for n in ir.nodes}
    for pid in order:
        machines = {m for nid in members[pid] if (m := nodes[nid].placement.machine)}
        if len(machines) > 1:
            raise IRError(f"partition {pid!r} mixes machines {sorted(machines)}",
                          hint="flows placed on different machines cannot share a process")
        labels: dict[str, str] = {}
        for nid in members[pid]:
            labels.update(nodes[nid].placement.labels)
        partitions.append(PartitionIR(
            id=pid, nodes=members[pid],
            placement=PlacementIR(machine=next(iter(machines), None), labels=labels)))
    cross = [e.id for e in ir.edges if assignment[e.src] != assignment[e.dst]]
    return ExecutionGraph(ir=ir, partitions=partitions, cross_edges=cross, policy=name)


def as_execution_graph(obj: IR | ExecutionGraph, policy: Any = "per-flow") -> ExecutionGraph:
    """An execution graph for ``obj`` (built with ``policy`` when given an IR)."""
    if isinstance(obj, ExecutionGraph):
        return obj
    if isinstance(obj, IR):
        return build_execution(obj, policy=policy)
    raise IRError(f"expected an IR or ExecutionGraph, got {type(obj).__name__}")
