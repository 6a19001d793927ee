"""Building the runtime graph of an IR: node runtimes, routes and execution order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from retriever.ir.model import IR

from .node import NodeRuntime, instantiate_flow

Route = tuple[NodeRuntime, list[tuple[str, str]]]


def topo_order(ir: IR, only: Iterable[str] | None = None) -> list[str]:
    """Nodes in dependency order; cycles are broken by insertion order."""
    names = [n.id for n in ir.nodes if only is None or n.id in set(only)]
    keep = set(names)
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for e in ir.edges:
        if e.src in keep and e.dst in keep and e.src != e.dst:
            succ[e.src].append(e.dst)
            indeg[e.dst] += 1
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(names):
        ready = [n for n in names if n not in placed and indeg[n] == 0]
        if not ready:  # a cycle: take the first remaining node in insertion order
            ready = [next(n for n in names if n not in placed)]
        for n in ready:
            if n in placed:
                continue
            placed.add(n)
            order.append(n)
            for m in succ[n]:
                indeg[m] -= 1
    return order


def build_runtimes(ir: IR, live: Mapping[str, Any] | None = None,
                   only: Iterable[str] | None = None) -> dict[str, NodeRuntime]:
    """Instantiate flows (lifecycle start) and wire their input ports, in topo order."""
    live = live or {}
    order = topo_order(ir, only)
    runtimes: dict[str, NodeRuntime] = {}
    try:
        for name in order:
            node = ir.node(name)
            runtimes[name] = NodeRuntime(node, instantiate_flow(node, live.get(name)))
    except BaseException:
        for rt in runtimes.values():
            try:
                rt.finalize()
            except Exception:  # already failing: the original error wins
                pass
        raise
    for e in ir.edges:
        if e.dst in runtimes:
            runtimes[e.dst].bind_input(e)
    return runtimes


def local_routes(ir: IR, runtimes: Mapping[str, NodeRuntime]) -> dict[str, list[Route]]:
    """For each source node, the local destinations and their port pairs."""
    routes: dict[str, list[Route]] = {n: [] for n in runtimes}
    for e in ir.edges:
        if e.src in runtimes and e.dst in runtimes:
            routes[e.src].append((runtimes[e.dst], [(p.src_port, p.dst_port) for p in e.ports]))
    return routes
