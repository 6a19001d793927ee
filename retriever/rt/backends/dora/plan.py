"""The dora shape of an execution graph, as both sides of a run derive it.

The owner (compiling the dataflow, :mod:`.compile`) and each dora node (running its
partition, :mod:`.runner`) call :func:`plan_dataflow` on the same execution graph, so
the names used in the dataflow and inside the nodes always agree. This module holds
what a node needs of that (the plan, the environment it is given, the packed graph);
the YAML document is the owner's alone and lives in :mod:`.compile`. The plan's records
are ``msgspec`` structs rather than dataclasses: every node defines them at start-up,
and a struct class costs a few microseconds to define where a dataclass costs half a
millisecond.
"""

from __future__ import annotations

import base64
import re
import zlib

import msgspec

from retriever.contract.errors import IRError
from retriever.ir.model import ExecutionGraph

# Environment variables read by the runner.
ENV_GRAPH = "RETRIEVER_DORA_GRAPH"          # base64(zlib(execution graph JSON))
ENV_PARTITION = "RETRIEVER_DORA_PARTITION"  # partition id of this node
ENV_RUN = "RETRIEVER_DORA_RUN"              # run token (marks every process of a run)
ENV_STATUS = "RETRIEVER_DORA_STATUS"        # directory for ready/stats/error files
ENV_EPOCH = "RETRIEVER_DORA_EPOCH"          # wall-clock origin of run time (unix seconds)
ENV_OWNER = "RETRIEVER_DORA_OWNER"          # "host:pid" of the process that owns the run
ENV_CWD = "RETRIEVER_DORA_CWD"              # working directory to switch to


class InputPlan(msgspec.Struct):
    """A dora input of a node: messages of one flow of another partition."""

    input_id: str
    source: str           # "<dora node>/<output>"
    src_flow: str
    dst_flows: list[str]
    queue_size: int
    backpressure: bool


class TimerPlan(msgspec.Struct):
    """A dora timer input driving one periodic flow."""

    input_id: str
    flow: str
    source: str           # "dora/timer/..."


class NodePlan(msgspec.Struct):
    """One dora node: a partition and its dora-facing names."""

    dora_id: str
    partition: str
    flows: list[str]
    inputs: list[InputPlan] = msgspec.field(default_factory=list)
    timers: list[TimerPlan] = msgspec.field(default_factory=list)
    outputs: dict[str, str] = msgspec.field(default_factory=dict)  # flow -> output id
    machine: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    restart: RestartPlan | None = None


class RestartPlan(msgspec.Struct, frozen=True):
    """When dora restarts a node: ``policy`` is ``on-failure`` or ``always``; at most
    ``max_restarts`` restarts within ``window`` seconds."""

    policy: str
    max_restarts: int
    window: float


def restart_plan(graph: ExecutionGraph, flows: list[str]) -> RestartPlan | None:
    """The restart policy of a partition: the first of its flows that asked for one
    (the multiprocessing backend chooses the same way). None: never restart."""
    for name in flows:
        raw = graph.ir.node(name).restart
        if not raw or raw.get("policy", "never") == "never":
            continue
        policy = str(raw["policy"])
        if policy not in ("on-failure", "always"):
            raise IRError(f"flow {name!r} has an unknown restart policy {policy!r}",
                          hint="use never, on-failure or always")
        count = int(raw.get("max_restarts", 3))
        if count <= 0:
            return None  # no restart allowed (dora would read 0 as "unlimited")
        return RestartPlan(policy, count, float(raw.get("window", 60.0)))
    return None


class DataflowPlan(msgspec.Struct):
    """The dora shape of an execution graph."""

    name: str
    nodes: list[NodePlan]

    def for_partition(self, partition: str) -> NodePlan:
        """The node plan of ``partition``."""
        for n in self.nodes:
            if n.partition == partition:
                return n
        raise IRError(f"the dataflow has no partition {partition!r}")

    @property
    def placed(self) -> bool:
        """Whether any node carries a machine or labels (needs a coordinator)."""
        return any(n.machine or n.labels for n in self.nodes)


#: Characters a dora id may not hold (each becomes "_", or "-" in a dataflow name).
UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def _ids(names: list[str], prefix: str = "") -> dict[str, str]:
    """Deterministic dora-safe, unique ids for ``names``."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = prefix + (UNSAFE_ID_CHARS.sub("_", name) or "x")
        ident, k = base, 2
        while ident in used:
            ident, k = f"{base}_{k}", k + 1
        used.add(ident)
        out[name] = ident
    return out


def timer_source(hz: float) -> str:
    """The dora timer input for ``hz`` (millis when the period is whole ms)."""
    period_ms = 1000.0 / hz
    if abs(period_ms - round(period_ms)) < 1e-9 and round(period_ms) >= 1:
        return f"dora/timer/millis/{round(period_ms)}"
    return f"dora/timer/micros/{max(1, round(1e6 / hz))}"


def plan_dataflow(graph: ExecutionGraph) -> DataflowPlan:
    """The dora node/input/output/timer layout of ``graph`` (pure and deterministic)."""
    ir = graph.ir
    part_of = {n: p.id for p in graph.partitions for n in p.nodes}
    node_ids = _ids([p.id for p in graph.partitions])
    out_ids = _ids([n.id for n in ir.nodes])
    in_ids = _ids([n.id for n in ir.nodes], "in_")
    tick_ids = _ids([n.id for n in ir.nodes], "tick_")
    plans = {p.id: NodePlan(dora_id=node_ids[p.id], partition=p.id, flows=list(p.nodes),
                            machine=p.placement.machine, labels=dict(p.placement.labels),
                            restart=restart_plan(graph, list(p.nodes)))
             for p in graph.partitions}
    for p in graph.partitions:
        for flow in p.nodes:
            clock = ir.node(flow).clock
            if clock.hz:
                plans[p.id].timers.append(TimerPlan(tick_ids[flow], flow, timer_source(clock.hz)))
    inputs: dict[tuple[str, str], InputPlan] = {}
    for e in ir.edges:
        src_p, dst_p = part_of[e.src], part_of[e.dst]
        if src_p == dst_p:
            continue
        qsize = max((p.qsize for p in e.ports), default=1)
        block = any(p.on_full == "block" for p in e.ports)
        plans[src_p].outputs[e.src] = out_ids[e.src]
        key = (dst_p, e.src)
        existing = inputs.get(key)
        if existing is None:
            inp = InputPlan(in_ids[e.src], f"{node_ids[src_p]}/{out_ids[e.src]}", e.src,
                            [e.dst], qsize, block)
            inputs[key] = inp
            plans[dst_p].inputs.append(inp)
        else:
            existing.queue_size = max(existing.queue_size, qsize)
            existing.backpressure = existing.backpressure or block
            if e.dst not in existing.dst_flows:
                existing.dst_flows.append(e.dst)
    return DataflowPlan(name=ir.name, nodes=[plans[p.id] for p in graph.partitions])


# ---------------------------------------------------------------- graph in the env

def pack_graph(graph: ExecutionGraph) -> str:
    """The execution graph as a compact ASCII string (for the dataflow ``env``)."""
    raw = graph.to_json(indent=None).encode()
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack_graph(text: str) -> ExecutionGraph:
    """Inverse of :func:`pack_graph` (parses JSON only; imports nothing)."""
    try:
        raw = zlib.decompress(base64.b64decode(text))
    except (ValueError, zlib.error) as exc:
        raise IRError(f"the packed execution graph is corrupt: {exc}") from None
    return ExecutionGraph.from_json(raw)


