"""Building the runtime graph of an IR: node runtimes, routes and execution order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from retriever.contract.envelope import envelope_field_types
from retriever.ir.model import IR, NodeIR
from retriever.ir.resolve import resolve_envelope

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
    position = {n: i for i, n in enumerate(names)}
    ready = [n for n in names if indeg[n] == 0]
    heapq.heapify(ready_heap := [(position[n], n) for n in ready])
    order: list[str] = []
    placed: set[str] = set()
    cursor = 0  # first not-yet-placed node in insertion order, for breaking cycles
    while len(order) < len(names):
        if not ready_heap:  # a cycle: take the first remaining node in insertion order
            while names[cursor] in placed:
                cursor += 1
            heapq.heappush(ready_heap, (cursor, names[cursor]))
        _, n = heapq.heappop(ready_heap)
        if n in placed:
            continue
        placed.add(n)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0 and m not in placed:
                heapq.heappush(ready_heap, (position[m], m))
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
    except BaseException as primary:
        # Start-up failed: finalize what was started; the start-up error stays the one
        # raised, and any finalize failure is attached to it as a note.
        for rt in runtimes.values():
            try:
                rt.finalize()
            except Exception as exc:
                primary.add_note(f"also, while cleaning up: {exc}")
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


def port_types(node: NodeIR, side: str) -> dict[str, Any]:
    """The declared Python type of each port of one side (``"in"`` or ``"out"``) of
    ``node``, from the flow's own ``@io`` classes. The one port-type lookup: codecs
    rebuild received values as these types and recordings declare them."""
    sig = node.outputs if side == "out" else node.inputs
    ports = node.output_ports if side == "out" else node.input_ports
    classes = {e.alias or "": resolve_envelope(e.cls, node.source_file)
               for e in sig.elements if e.cls}
    out: dict[str, Any] = {}
    for p in ports:
        cls = classes.get(p.alias)
        if cls is None and len(classes) == 1:
            cls = next(iter(classes.values()))
        out[p.name] = envelope_field_types(cls).get(p.field, Any) if cls else Any
    return out


def output_port_types(node: NodeIR) -> dict[str, Any]:
    """The declared type of each output port of ``node`` (see :func:`port_types`)."""
    return port_types(node, "out")


def feedback_ports(ir: IR) -> dict[str, set[str]]:
    """Per flow, the input ports fed back from its own outputs (through a cycle).

    A start-up wait never waits on them: they could only get a value after the flow
    ran, so waiting would deadlock a feedback loop.
    """
    succ: dict[str, set[str]] = {}
    for e in ir.edges:
        succ.setdefault(e.src, set()).add(e.dst)

    def reaches(a: str, b: str) -> bool:
        seen, todo = {a}, [a]
        while todo:
            for m in succ.get(todo.pop(), ()):
                if m == b:
                    return True
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return False

    out: dict[str, set[str]] = {}
    for e in ir.edges:
        if e.src == e.dst or reaches(e.dst, e.src):
            out.setdefault(e.dst, set()).update(p.dst_port for p in e.ports)
    return out
