"""The program every dora node of a retriever dataflow runs.

``python -m retriever.rt.backends.dora.runner`` reads the execution graph and its
partition from the environment (see :mod:`.compile`), builds the partition's flows with
:func:`retriever.rt.graph.build_runtimes` (the shared lifecycle) and then reacts to dora
events, using :class:`retriever.rt.node.NodeRuntime` for every sample -> step -> publish
and :class:`retriever.rt.lag.LagTracker` for missed ticks:

- a timer tick of a periodic flow: the tick's own dora timestamp is the time the tick
  was due; the tracker is re-anchored on it and asked which ticks to run *now*, so a
  tick handled one period or more after dora emitted it counts as lag and the flow's
  ``on_lag`` policy decides (run the newest, drop quietly, raise, or catch up). Ticks
  queued behind a tick already handled are discarded;
- a message from another partition: delivered (whole) into the destination ports with
  the sender's dora timestamp; ``Trigger``/``Hybrid`` flows then run if triggered. Each
  output numbers its messages; a gap in the numbers is what dora's input queue dropped,
  and counts as dropped for the destination flows;
- a message published inside the partition is delivered directly, and sent as one dora
  output event when another partition consumes it.

Times are seconds since ``RETRIEVER_DORA_EPOCH`` (wall clock, like dora's timestamps).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dora import Node

from retriever.contract.envelope import envelope_field_types
from retriever.contract.errors import FlowError
from retriever.ir.model import ExecutionGraph
from retriever.rt.graph import build_runtimes, local_routes, topo_order
from retriever.rt.lag import LagTracker
from retriever.rt.node import Message, NodeRuntime
from retriever.rt.observe import close_all, notify, observers_from_env

from . import compile as plan_mod
from .codec import DoraCodec
from .status import StatusWriter

STATS_EVERY = 0.5
SEQ_KEY = "retriever_seq"  # event metadata: the message's number on its output
Routes = list[tuple[NodeRuntime, list[tuple[str, str]]]]


def _port_types(runtimes: dict[str, NodeRuntime], graph: ExecutionGraph, src: str,
                dsts: list[str]) -> dict[str, Any]:
    """Declared types of the destination ports fed by ``src``'s output ports."""
    types: dict[str, Any] = {}
    for e in graph.ir.edges:
        if e.src != src or e.dst not in dsts:
            continue
        rt = runtimes[e.dst]
        side = rt.inputs
        for p in e.ports:
            port = rt.ports[p.dst_port]
            if side.is_none or p.src_port in types:
                continue
            cls = (side.envelopes[side.aliases.index(port.alias)] if side.composite
                   else side.envelopes[0])
            types[p.src_port] = envelope_field_types(cls).get(port.field, Any)
    return types


class PartitionRunner:
    """Runs the flows of one partition inside a dora node."""

    def __init__(self, graph: ExecutionGraph, partition: str, epoch: float,
                 status: StatusWriter) -> None:
        self.graph = graph
        self.plan = plan_mod.plan_dataflow(graph).for_partition(partition)
        self.epoch = epoch
        self.status = status
        ir = graph.ir
        self.runtimes = build_runtimes(ir, only=self.plan.flows)
        self.order = topo_order(ir, self.plan.flows)
        self.local: dict[str, Routes] = local_routes(ir, self.runtimes)
        self.out_codec = DoraCodec()
        self.outputs = dict(self.plan.outputs)
        self.inputs: dict[str, tuple[DoraCodec, Routes]] = {}
        for inp in self.plan.inputs:
            routes: Routes = []
            for e in ir.edges:
                if e.src == inp.src_flow and e.dst in inp.dst_flows:
                    routes.append((self.runtimes[e.dst],
                                   [(p.src_port, p.dst_port) for p in e.ports]))
            types = _port_types(self.runtimes, graph, inp.src_flow, inp.dst_flows)
            self.inputs[inp.input_id] = (DoraCodec(types), routes)
        self.timers: dict[str, tuple[NodeRuntime, str]] = {
            t.input_id: (self.runtimes[t.flow], t.flow) for t in self.plan.timers}
        self.trackers: dict[str, LagTracker] = {}
        self.send: Callable[[str, Any, dict[str, Any]], None] = lambda _i, _v, _m: None
        # Per-output sequence numbers: a gap at the receiver is what dora's input queue
        # dropped (it drops the oldest silently), counted like the other backends do.
        self._sent: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._pending: deque[tuple[NodeRuntime, float, str, bool]] = deque()
        self.clock: Callable[[], float] = time.time
        self.observers = observers_from_env()  # e.g. live viewing (visualize=)

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        """Run time now (seconds since the epoch of the run)."""
        return self.clock() - self.epoch

    def event_time(self, event: dict[str, Any]) -> float:
        """The dora timestamp of an event in run time (now if it carries none)."""
        meta = event.get("metadata") or {}
        stamp = meta.get("timestamp")
        if stamp is None:
            return self.now()
        ts = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp) * 1e-9
        return float(ts) - self.epoch

    # ------------------------------------------------------------------ events
    def on_tick(self, input_id: str, tick_time: float) -> None:
        """A timer tick for a periodic flow (lag policy applied here)."""
        rt, name = self.timers[input_id]
        clock = rt.clock
        tracker = self.trackers.get(name)
        if tracker is None:
            assert clock.hz is not None
            tracker = self.trackers[name] = LagTracker(name, clock.hz, clock.on_lag,
                                                       tick_time)
        half = tracker.period / 2
        if tick_time < tracker.next_due - half:
            return  # already covered by a skip or a catch-up of an earlier tick
        tracker.next_due = tick_time  # dora's timestamp says when this tick was due
        due = tracker.due(self.now())
        rt.lag_events = tracker.lag_events
        rt.skipped_ticks = tracker.skipped
        mode = "none" if clock.kind == "tick" else "all"
        for t in due:
            self._run(rt, t, mode)

    def on_input(self, input_id: str, value: Any, metadata: dict[str, Any] | None,
                 ts: float) -> None:
        """A message from another partition."""
        codec, routes = self.inputs[input_id]
        msg = codec.decode(value, metadata)
        seq = (metadata or {}).get(SEQ_KEY)
        if isinstance(seq, int):
            lost = seq - self._seen.get(input_id, -1) - 1
            self._seen[input_id] = seq
            if lost > 0:
                for dst, _ in routes:
                    dst.dropped += lost
        for dst, pairs in routes:
            dst.deliver(pairs, ts, msg)
        for dst, _ in routes:
            self._maybe_trigger(dst, ts)
        self._drain()

    def _maybe_trigger(self, rt: NodeRuntime, ts: float) -> None:
        kind = rt.clock.kind
        if kind in ("trigger", "hybrid") and rt.triggered():
            self._pending.append((rt, ts, "trigger" if kind == "trigger" else "all", True))

    def _run(self, rt: NodeRuntime, now: float, mode: str) -> None:
        self._pending.append((rt, now, mode, False))
        self._drain()

    def _drain(self) -> None:
        pending = self._pending
        while pending:
            rt, now, mode, by_trigger = pending.popleft()
            if by_trigger and not rt.triggered():
                continue  # queued twice: an earlier run already consumed the arrival
            inp, _out, msg = rt.execute(now, mode)
            if self.observers:
                notify(self.observers, rt.name, rt.steps, now, inp, msg)
            if msg:
                self._publish(rt.name, now, msg)

    def _publish(self, name: str, now: float, msg: Message) -> None:
        out_id = self.outputs.get(name)
        if out_id is not None:
            value, meta = self.out_codec.encode(msg)
            seq = self._sent.get(out_id, 0)
            self._sent[out_id] = seq + 1
            self.send(out_id, value, {**meta, SEQ_KEY: seq})
        for dst, pairs in self.local.get(name, ()):
            dst.deliver(pairs, now, msg)
            self._maybe_trigger(dst, now)

    # ------------------------------------------------------------------ reporting
    def stats(self) -> dict[str, dict[str, int]]:
        """Per-flow counters."""
        return {n: self.runtimes[n].stats() for n in self.order}

    def finalize(self) -> None:
        """Finalize every flow; the first error is raised after all ran."""
        first: BaseException | None = None
        for name in self.order:
            try:
                self.runtimes[name].finalize()
            except FlowError as exc:
                first = first or exc
        close_all(self.observers)
        if first is not None:
            raise first


def _watch_owner(owner: str) -> None:
    """Exit when the owning process (same host) is gone, so no node outlives a run."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return
    pid = int(pid_text)

    def loop() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(70)
            except PermissionError:
                pass

    threading.Thread(target=loop, name="retriever-owner-watch", daemon=True).start()


def run_node() -> int:
    """Entry point of a node process; returns the exit code."""
    env = os.environ
    partition = env.get(plan_mod.ENV_PARTITION, "")
    status = StatusWriter(env.get(plan_mod.ENV_STATUS), partition or "unknown")
    if env.get(plan_mod.ENV_OWNER):
        _watch_owner(env[plan_mod.ENV_OWNER])
    if env.get(plan_mod.ENV_CWD):
        try:
            os.chdir(env[plan_mod.ENV_CWD])
        except OSError:
            pass  # a remote machine may not have the owner's directory
    flows: list[str] = []
    runner: PartitionRunner | None = None
    try:
        graph = plan_mod.unpack_graph(env[plan_mod.ENV_GRAPH])
        node_plan = plan_mod.plan_dataflow(graph).for_partition(partition)
        flows = node_plan.flows
        status = StatusWriter(env.get(plan_mod.ENV_STATUS), node_plan.dora_id)
        epoch = float(env.get(plan_mod.ENV_EPOCH, "0") or 0)
        runner = PartitionRunner(graph, partition, epoch, status)
        _event_loop(runner, status)
        runner.finalize()
        status.stats(runner.stats(), "done")
        return 0
    except BaseException as exc:
        if runner is not None:
            try:
                runner.finalize()
            except FlowError as fin:
                print(f"retriever: finalize failed after an error: {fin}", file=sys.stderr)
            status.stats(runner.stats(), "failed")
        status.error(exc, flows)
        print(f"retriever dora node {partition!r} failed: {exc}", file=sys.stderr, flush=True)
        return 1


def _event_loop(runner: PartitionRunner, status: StatusWriter) -> None:
    node = Node()
    def send(out_id: str, value: Any, meta: dict[str, Any]) -> None:
        if meta:
            node.send_output(out_id, value, meta)
        else:
            node.send_output(out_id, value)

    runner.send = send
    runner.clock = lambda: node.timestamp().timestamp()  # dora's clock (HLC, UTC)
    status.ready(runner.plan.partition, runner.plan.flows)
    timers, inputs = runner.timers, runner.inputs
    next_stats = time.monotonic() + STATS_EVERY
    while True:
        event = node.next()
        if event is None:
            return  # every sender is gone: the dataflow ended
        kind = event["type"]
        if kind == "INPUT":
            eid = event["id"]
            if eid in timers:
                runner.on_tick(eid, runner.event_time(event))
            elif eid in inputs:
                runner.on_input(eid, event["value"], event.get("metadata"),
                                runner.event_time(event))
        elif kind == "STOP":
            return
        elif kind == "ERROR":
            print(f"retriever: dora reported: {event.get('error')}", file=sys.stderr)
        wall = time.monotonic()
        if wall >= next_stats:
            next_stats = wall + STATS_EVERY
            status.stats(runner.stats())


if __name__ == "__main__":
    sys.exit(run_node())
