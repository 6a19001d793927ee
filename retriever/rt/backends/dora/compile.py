"""Compiling an ExecutionGraph into a dora dataflow.

One dora node per partition. Each node runs :mod:`retriever.rt.backends.dora.runner`,
which rebuilds the partition's flows from the execution graph carried in the dataflow's
``env`` and derives the same :class:`DataflowPlan` with :func:`plan_dataflow` (in
:mod:`.plan`, which a node imports without this module), so the names used here and
inside the node always agree.

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

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from retriever.ir.model import ExecutionGraph

from .plan import (
    ENV_CWD,
    ENV_EPOCH,
    ENV_GRAPH,
    ENV_OWNER,
    ENV_PARTITION,
    ENV_RUN,
    ENV_STATUS,
    DataflowPlan,
    InputPlan,
    NodePlan,
    RestartPlan,
    TimerPlan,
    pack_graph,
    plan_dataflow,
    restart_plan,
    timer_source,
    unpack_graph,
)

RUNNER_MODULE = "retriever.rt.backends.dora.runner"
#: dora's own variable: bytes of a node's shared-memory pool for outgoing messages.
ENV_SHM_POOL = "DORA_NODE_SHM_POOL_SIZE"
#: Pool size given to nodes that publish large messages (see :func:`shm_pool_size`).
SHM_POOL_DEFAULT = 64 * 1024 * 1024
SHM_POOL_MIN = 8 * 1024 * 1024  # dora's own default

__all__ = ["ENV_CWD", "ENV_EPOCH", "ENV_GRAPH", "ENV_OWNER", "ENV_PARTITION", "ENV_RUN",
           "ENV_SHM_POOL", "ENV_STATUS", "RUNNER_MODULE", "SHM_POOL_DEFAULT", "SHM_POOL_MIN",
           "DataflowPlan", "InputPlan", "NodePlan", "RestartPlan", "TimerPlan",
           "SCALAR_TYPES", "compile_dataflow", "dataflow_document", "may_publish_large",
           "pack_graph", "plan_dataflow", "pool_publishers",
           "restart_plan", "shm_pool_size", "timer_source", "to_yaml", "unpack_graph"]


#: Port types whose values are always small: a message of nothing else stays far below
#: the 4 KiB from which dora moves a message through the sender's shared-memory pool.
SCALAR_TYPES = frozenset({"bool", "int", "float", "complex"})


def may_publish_large(graph: ExecutionGraph, node: NodePlan) -> bool:
    """Whether a message ``node`` sends to another partition may be large (4 KiB or
    more, which dora moves through the node's shared-memory pool): one of its ports has a
    type other than a number. Only such nodes get a pool larger than dora's default
    (making a 64 MiB pool costs a node about 20 ms as it joins the dataflow)."""
    return any(p.type not in SCALAR_TYPES
               for flow in node.outputs for p in graph.ir.node(flow).output_ports)


def pool_publishers(graph: ExecutionGraph) -> int:
    """How many nodes of ``graph`` get a shared-memory pool (see :func:`may_publish_large`)."""
    return sum(1 for n in plan_dataflow(graph).nodes if may_publish_large(graph, n))


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
    ``shm_pool`` is the shared-memory pool (bytes) of each node that may publish large
    messages (see :func:`may_publish_large` and :func:`shm_pool_size`; None keeps dora's
    default).
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
        if shm_pool is not None and may_publish_large(graph, n):
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
