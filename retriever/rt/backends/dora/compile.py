"""Compiling an ExecutionGraph into a dora dataflow.

One dora node per partition. Each node runs :mod:`retriever.rt.backends.dora.runner`,
which rebuilds the partition's flows from the execution graph carried in the dataflow's
``env`` and derives the same :class:`DataflowPlan` with :func:`plan_dataflow`, so the
names used here and inside the node always agree.

Mapping:

- a periodic flow (``Rate``, ``Tick``, ``Hybrid``) gets a dora timer input
  ``tick_<flow>`` (``dora/timer/millis/N``, or ``micros`` when the period is not a whole
  number of milliseconds);
- a flow with consumers in another partition gets a dora output named after it; one
  output event carries one whole message (every port of that step);
- a partition consuming flow ``F`` of another partition gets one input ``in_<F>`` with
  ``queue_size`` = the largest ``qsize`` of the edge ports it carries; ``on_full="block"``
  becomes ``queue_policy: backpressure`` (dora holds local publishers; see the docs for
  its limits), ``drop`` keeps dora's default (drop the oldest);
- placement (``machine`` / ``labels``) becomes the node's ``deploy:`` section;
- a restart policy (``.restart_policy(...)`` on any flow of the partition) becomes the
  node's ``restart_policy`` / ``max_restarts`` / ``restart_window``: dora restarts the
  node's process, which rebuilds every flow of the partition.
"""

from __future__ import annotations

import base64
import json
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retriever.contract.errors import IRError
from retriever.ir.model import ExecutionGraph

RUNNER_MODULE = "retriever.rt.backends.dora.runner"

# Environment variables read by the runner.
ENV_GRAPH = "RETRIEVER_DORA_GRAPH"          # base64(zlib(execution graph JSON))
ENV_PARTITION = "RETRIEVER_DORA_PARTITION"  # partition id of this node
ENV_RUN = "RETRIEVER_DORA_RUN"              # run token (marks every process of a run)
ENV_STATUS = "RETRIEVER_DORA_STATUS"        # directory for ready/stats/error files
ENV_EPOCH = "RETRIEVER_DORA_EPOCH"          # wall-clock origin of run time (unix seconds)
ENV_OWNER = "RETRIEVER_DORA_OWNER"          # "host:pid" of the process that owns the run
ENV_CWD = "RETRIEVER_DORA_CWD"              # working directory to switch to
#: dora's own variable: bytes of a node's shared-memory pool for outgoing messages.
ENV_SHM_POOL = "DORA_NODE_SHM_POOL_SIZE"
#: Pool size given to nodes that publish (see :func:`shm_pool_size`).
SHM_POOL_DEFAULT = 64 * 1024 * 1024
SHM_POOL_MIN = 8 * 1024 * 1024  # dora's own default


@dataclass
class InputPlan:
    """A dora input of a node: messages of one flow of another partition."""

    input_id: str
    source: str           # "<dora node>/<output>"
    src_flow: str
    dst_flows: list[str]
    queue_size: int
    backpressure: bool


@dataclass
class TimerPlan:
    """A dora timer input driving one periodic flow."""

    input_id: str
    flow: str
    source: str           # "dora/timer/..."


@dataclass
class NodePlan:
    """One dora node: a partition and its dora-facing names."""

    dora_id: str
    partition: str
    flows: list[str]
    inputs: list[InputPlan] = field(default_factory=list)
    timers: list[TimerPlan] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # flow -> output id
    machine: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    restart: RestartPlan | None = None


@dataclass(frozen=True)
class RestartPlan:
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


@dataclass
class DataflowPlan:
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


_ID_OK = re.compile(r"[^A-Za-z0-9_-]")


def _ids(names: list[str], prefix: str = "") -> dict[str, str]:
    """Deterministic dora-safe, unique ids for ``names``."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = prefix + (_ID_OK.sub("_", name) or "x")
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


def shm_pool_size(publishers: int, requested: int | None = None) -> int | None:
    """Bytes of shared memory for each of ``publishers`` publishing nodes, or None to
    keep dora's default.

    dora 1.x copies every message of 4 KiB or more into a per-node pool of shared
    memory, 8 MiB by default. A 1920x1080x3 frame is 6.2 MB: with one frame still held
    by a subscriber the next one no longer fits, and dora falls back to sending it
    through its network path, which costs several milliseconds and swings widely. So
    publishing nodes get :data:`SHM_POOL_DEFAULT` (room for ten such frames), less
    when ``/dev/shm`` is small (a pool must fit the memory behind it: at most a
    quarter of the free space, shared by the publishers), never less than dora's
    default. ``requested`` (the ``shm_pool`` option) wins; a
    ``DORA_NODE_SHM_POOL_SIZE`` in the environment is left to dora (None).
    """
    if requested is not None:
        return max(4096, int(requested))
    if os.environ.get(ENV_SHM_POOL) or publishers <= 0:
        return None
    try:
        st = os.statvfs("/dev/shm")
        free = st.f_bavail * st.f_frsize
    except OSError:
        return None  # no /dev/shm to judge: dora's default
    share = free // 4 // publishers
    return max(SHM_POOL_MIN, min(SHM_POOL_DEFAULT, share))


# ---------------------------------------------------------------- the YAML document

def dataflow_document(graph: ExecutionGraph, *, python: str,
                      env: Mapping[str, str] | None = None,
                      deploy: bool = True, build: str | None = None,
                      shm_pool: int | None = None) -> dict[str, Any]:
    """The dataflow descriptor as plain data.

    ``python`` is the interpreter each node runs (a command found on ``PATH``, or an
    absolute path valid on every machine); ``env`` is added to the dataflow-level
    environment; ``deploy=False`` leaves out ``deploy:`` sections (``dora run`` refuses
    them); ``build`` is each node's ``build:`` command (run by ``dora build``);
    ``shm_pool`` is the shared-memory pool (bytes) of each node that publishes (see
    :func:`shm_pool_size`; None keeps dora's default).
    """
    plan = plan_dataflow(graph)
    top_env = {ENV_GRAPH: pack_graph(graph)}
    top_env.update(env or {})
    nodes: list[dict[str, Any]] = []
    for n in plan.nodes:
        inputs: dict[str, Any] = {}
        for t in n.timers:
            inputs[t.input_id] = t.source
        for i in n.inputs:
            spec: dict[str, Any] = {"source": i.source, "queue_size": i.queue_size}
            if i.backpressure:
                spec["queue_policy"] = "backpressure"
            inputs[i.input_id] = spec
        node: dict[str, Any] = {
            "id": n.dora_id,
            "name": f"retriever partition {n.partition}: {', '.join(n.flows)}",
            "path": python,
            "args": f"-u -m {RUNNER_MODULE}",
            "env": {ENV_PARTITION: n.partition},
        }
        if shm_pool is not None and n.outputs:
            node["env"][ENV_SHM_POOL] = str(shm_pool)
        if build:
            node["build"] = build
        if n.restart is not None:  # dora (>= 1.0) restarts the node itself
            node["restart_policy"] = n.restart.policy
            node["max_restarts"] = n.restart.max_restarts
            node["restart_window"] = n.restart.window
        if inputs:
            node["inputs"] = inputs
        if n.outputs:
            node["outputs"] = list(n.outputs.values())
        if deploy and (n.machine or n.labels):
            dep: dict[str, Any] = {}
            if n.machine:
                dep["machine"] = n.machine
            if n.labels:
                dep["labels"] = dict(n.labels)
            node["deploy"] = dep
        nodes.append(node)
    return {"env": top_env, "nodes": nodes}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    # A JSON string is a valid YAML double-quoted scalar; quoting keeps numbers-as-text.
    return json.dumps(str(value))


def _emit(value: Any, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, Mapping):
        for k, v in value.items():
            key = _scalar(k) if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)) else k
            if isinstance(v, (Mapping, list)) and v:
                lines.append(f"{pad}{key}:")
                _emit(v, indent + 1, lines)
            elif isinstance(v, (Mapping, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(v, Mapping) else '[]'}")
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}")
        return
    for item in value:
        if isinstance(item, Mapping) and item:
            sub: list[str] = []
            _emit(item, indent + 1, sub)
            first = sub[0].lstrip()
            lines.append(f"{pad}- {first}")
            lines.extend(sub[1:])
        else:
            lines.append(f"{pad}- {_scalar(item)}")


def to_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """Block-style YAML for a dataflow document (strings are always quoted)."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()]
    _emit(document, 0, lines)
    return "\n".join(lines) + "\n"


def compile_dataflow(graph: ExecutionGraph, *, python: str,
                     env: Mapping[str, str] | None = None, deploy: bool = True,
                     build: str | None = None, header: str = "",
                     shm_pool: int | None = None) -> str:
    """The dataflow YAML for ``graph`` (see :func:`dataflow_document`)."""
    top = (f"dora dataflow generated by retriever for pipeline {graph.ir.name!r}\n"
           f"partitions: {', '.join(p.id for p in graph.partitions)}")
    if header:
        top += "\n" + header
    return to_yaml(dataflow_document(graph, python=python, env=env, deploy=deploy,
                                     build=build, shm_pool=shm_pool), top)
