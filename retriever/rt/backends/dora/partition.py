"""What every dora node of a retriever dataflow does (started by :mod:`.runner`).

:func:`run_node` reads the execution graph and its partition from the environment (see
:mod:`.plan`) and schedules the partition's flows with
:class:`retriever.rt.step.Scheduler`, the scheduler every backend shares.
This module only brings dora's time source and events:

- a timer tick of a periodic flow: the tick's own dora timestamp is the time the tick
  was due (:meth:`Scheduler.on_timer` anchors the flow's clock on the first and aligns
  its phase on later ones, so a tick handled one period or more late, or lost in dora's
  queue, counts as lag and ``on_lag`` decides);
- a message from another partition: delivered (whole) into the destination ports with
  the sender's dora timestamp, then the Trigger/Hybrid flows it triggered run. Each
  output numbers its messages; a gap in the numbers is what dora's input queue dropped,
  and counts as dropped for the destination flows;
- a message a flow publishes reaches the partition's own flows directly, and is sent
  as one dora output event when another partition consumes it;
- the end of the run (dora's ``STOP``, ``SIGTERM``, the owner gone; see
  :mod:`.stopping`): the loop ends, also between two runs of a ``catch_up`` burst, and
  every flow is finalized before the node exits.

Times are seconds since ``RETRIEVER_DORA_EPOCH`` (wall clock, like dora's timestamps).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from dora import Node

from retriever.contract.errors import FlowError
from retriever.ir.model import ExecutionGraph
from retriever.ir.resolve import allow_imports
from retriever.rt.errors import ErrorRecord
from retriever.rt.graph import Route, output_port_types
from retriever.rt.node import Message, NodeRuntime
from retriever.rt.observe import close_all, notify, observers_from_env
from retriever.rt.step import Scheduler

from . import plan as plan_mod
from .codec import SEQ_KEY, TAIL_KEY, DoraCodec, tail_seq
from .lend import LentSends, SampleLender
from .status import StatusWriter
from .stopping import HeldEvents, NodeStop

_ORIGIN_BITS = 32  # a message number is origin (high bits) + count on its output
_ORIGIN_MASK = (1 << 22) - 1  # process ids fit in 22 bits on Linux
_COUNTER_MASK = (1 << _ORIGIN_BITS) - 1
STATS_EVERY = 0.2  # the progress view refreshes every 0.5 s: counters stay current


class PartitionRunner:
    """Runs the flows of one partition inside a dora node."""

    def __init__(self, graph: ExecutionGraph, partition: str, epoch: float,
                 status: StatusWriter, stop: NodeStop | None = None) -> None:
        self.graph = graph
        self.plan = plan_mod.plan_dataflow(graph).for_partition(partition)
        self.epoch = epoch
        self.status = status
        ir = graph.ir
        self.sched = sched = Scheduler(ir, only=self.plan.flows)
        self.runtimes = sched.runtimes
        self.order = sched.order
        self.out_codec = DoraCodec()
        self.outputs = dict(self.plan.outputs)
        self.inputs: dict[str, tuple[DoraCodec, list[Route]]] = {}
        for inp in self.plan.inputs:
            routes: list[Route] = []
            for e in ir.edges:
                if e.src == inp.src_flow and e.dst in inp.dst_flows:
                    routes.append((self.runtimes[e.dst],
                                   [(p.src_port, p.dst_port) for p in e.ports]))
            types = output_port_types(ir.node(inp.src_flow))
            self.inputs[inp.input_id] = (DoraCodec(types), routes)
        self.timers: dict[str, str] = {t.input_id: t.flow for t in self.plan.timers}
        self.send: Callable[[str, Any, dict[str, Any]], None] = lambda _i, _v, _m: None
        # Per-output sequence numbers: a gap at the receiver is what dora's input queue
        # dropped (it drops the oldest silently), counted like the other backends do.
        self._sent: dict[str, int] = {}
        self._triggered_at = -math.inf  # the time of the last triggered run
        # numbers start at this process's origin, so a receiver tells a restarted
        # producer (new origin, counting from 0) from a message delivered late
        self._origin = (os.getpid() & _ORIGIN_MASK) << _ORIGIN_BITS
        self._seen: dict[str, int] = {}
        self.clock: Callable[[], float] = time.time
        self.lent: LentSends | None = None  # loans in dora samples (see lend())
        self.observers = observers_from_env()  # e.g. live viewing (visualize=)
        if self.outputs:
            sched.send = self._publish
        if self.observers:
            sched.on_run = self._observe
        # the end of the run ends a catch-up burst between two of its runs
        self.stop = stop or NodeStop()
        self.stop.held = HeldEvents(
            {i.input_id: None if i.backpressure else i.queue_size for i in self.plan.inputs},
            self.timers)
        sched.should_stop = self.stop.requested

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
        """A timer tick for a periodic flow (the scheduler applies its lag policy)."""
        self.sched.on_timer(self.timers[input_id], tick_time, self.now())

    def on_input(self, input_id: str, value: Any, metadata: dict[str, Any] | None,
                 ts: float) -> None:
        """A message from another partition."""
        codec, routes = self.inputs[input_id]
        seq = (metadata or {}).get(SEQ_KEY)
        if seq is None and metadata and TAIL_KEY in metadata:
            seq = tail_seq(value)  # a loan's sample carries its number at the end
        if isinstance(seq, int):
            last = self._seen.get(input_id)
            if last is not None and seq >> _ORIGIN_BITS == last >> _ORIGIN_BITS:
                if seq <= last:
                    # dora may deliver an older message after a newer one while its
                    # direct links form at start-up; sampling never goes back in time,
                    # so it is not delivered (the gap it left was already counted)
                    return
                lost = seq - last - 1
            else:  # the producer's first message, or one from a restarted producer
                lost = seq & _COUNTER_MASK
            self._seen[input_id] = seq
            for dst, _ in routes if lost > 0 else ():
                dst.dropped += lost
        self.sched.on_arrival(routes, ts, codec.decode(value, metadata))
        # Messages from different senders can arrive out of their timestamps' order;
        # sampling at an earlier time than the last triggered run would hand a flow an
        # older value of an input it already saw, so triggered runs never go back in time
        ts = self._triggered_at = max(ts, self._triggered_at)
        self.sched.run_triggered(ts)

    def lend(self, node: Any) -> None:
        """Let the flows whose messages leave this partition loan dora samples."""
        self.lent = LentSends(lambda o, v, m: self.send(o, v, m))
        for flow, out_id in self.outputs.items():
            self.runtimes[flow].desk.allocator = SampleLender(node, out_id, self.lent)

    def _publish(self, name: str, now: float, msg: Message) -> None:
        out_id = self.outputs.get(name)
        if out_id is not None:
            seq = self._sent.get(out_id, self._origin)
            self._sent[out_id] = seq + 1
            lent = self.lent
            if lent is not None:
                if lent.waiting:  # an earlier step's loan goes first (its step is over)
                    lent.flush()
                desk = self.runtimes[name].desk
                if desk.lent:  # sent once this step's references are gone (flush)
                    lent.queue_loan(out_id, desk, self.out_codec, msg, seq)
                    return
            value, meta = self.out_codec.encode(msg)
            self.send(out_id, value, {**meta, SEQ_KEY: seq})

    def _observe(self, rt: NodeRuntime, now: float, inp: Any, _out: Any,
                 msg: Message | None) -> None:
        notify(self.observers, rt.name, rt.steps, now, inp, msg)

    # ------------------------------------------------------------------ reporting
    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-flow counters."""
        return self.sched.stats()

    def finalize(self) -> list[FlowError]:
        """Finalize every flow (all of them); every failure is returned."""
        errors = self.sched.finalize_all()
        close_all(self.observers)
        return errors


def run_node() -> int:
    """Entry point of a node process; returns the exit code."""
    env = os.environ
    partition = env.get(plan_mod.ENV_PARTITION, "")
    status = StatusWriter(env.get(plan_mod.ENV_STATUS), partition or "unknown")
    stop = NodeStop()
    stop.install_sigterm()
    if env.get(plan_mod.ENV_OWNER):
        stop.watch_owner(env[plan_mod.ENV_OWNER])
    if env.get(plan_mod.ENV_CWD):
        try:
            os.chdir(env[plan_mod.ENV_CWD])
        except OSError:
            pass  # a remote machine may not have the owner's directory
    runner: PartitionRunner | None = None
    errors: list[BaseException] = []
    # The graph was checked by the process that started the dataflow (or written by
    # `retriever dora export`, whose YAML names the commands to run anyway): this
    # process imports the flows' modules and scripts as that process did.
    allow_imports(True)
    try:
        graph = plan_mod.unpack_graph(env[plan_mod.ENV_GRAPH])
        node_plan = plan_mod.plan_dataflow(graph).for_partition(partition)
        status = StatusWriter(env.get(plan_mod.ENV_STATUS), node_plan.dora_id)
        epoch = float(env.get(plan_mod.ENV_EPOCH, "0") or 0)
        runner = PartitionRunner(graph, partition, epoch, status, stop)
        if not stop.stopping:
            _event_loop(runner, status)
    except BaseException as exc:
        errors.append(exc)
    if runner is not None:
        errors.extend(runner.finalize())
        status.stats(runner.stats(), "failed" if errors else "done")
    if not errors:
        return 0
    status.errors([ErrorRecord.of(e) for e in errors])
    for err in errors:
        print(f"retriever dora node {partition!r} failed: {err}", file=sys.stderr, flush=True)
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
    runner.lend(node)
    lent = runner.lent
    assert lent is not None
    status.ready(runner.plan.partition, runner.plan.flows)
    timers, inputs = runner.timers, runner.inputs
    stop = runner.stop
    stop.node = node
    held = stop.held
    assert held is not None
    early = held.queue
    next_stats = time.monotonic() + STATS_EVERY
    while not stop.stopping:  # STOP seen during a catch-up burst, SIGTERM, owner gone
        # events taken off dora's queue while a catch-up burst looked for STOP go first
        event = held.pop() if early else node.next()
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
            if lent.waiting:  # published loans: the step's references are gone now
                lent.flush()
        elif kind == "STOP":
            return
        elif kind == "ERROR":
            print(f"retriever: dora reported: {event.get('error')}", file=sys.stderr)
        wall = time.monotonic()
        if wall >= next_stats:
            next_stats = wall + STATS_EVERY
            status.stats(runner.stats())
