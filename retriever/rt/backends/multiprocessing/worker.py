"""The loop of one worker process: the flows of one partition.

The worker rebuilds its flows from the IR (:func:`build_runtimes`), then repeats:
run the periodic flows whose deadline passed (:class:`LagTracker` decides which ticks),
run the flows whose trigger fields received messages, and wait (``select`` before a
deadline, ``epoll`` otherwise) for the next deadline or the next arrival; the last
``spin`` seconds before a deadline are busy-waited, and ``busy_poll`` never
sleeps at all (:class:`WaitOptions`). Each message
arriving from another partition is delivered on its own and the Trigger/Hybrid flows
it triggers step before the next one is delivered. Flows of the partition exchange
messages directly (:func:`local_routes`); other partitions are reached through
channels.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from retriever.contract.envelope import envelope_field_types
from retriever.contract.errors import FlowError, LagError, RetrieverError
from retriever.contract.wire import MessageCodec
from retriever.ir.model import NodeIR
from retriever.ir.resolve import resolve_class

from ...graph import Route, build_runtimes, local_routes, topo_order
from ...lag import LagTracker
from ...node import NodeRuntime
from ...observe import close_all, notify, observers_from_env
from ...transport import ControlLink, InChannel, OutChannel
from .plan import Plan, WaitOptions

STATS_INTERVAL = 0.2  # the progress view refreshes every 0.5 s: counters stay current
PARENT_GONE_GRACE = 3.0
FAR = float("inf")
EPOLL_SLACK = 0.002  # epoll rounds timeouts up to whole milliseconds
PR_SET_TIMERSLACK = 29
TIMER_SLACK_NS = 1000
SPIN_SHARE = 0.1  # the most of a periodic flow's period that spin may busy-wait


class StopRun(BaseException):
    """Raised inside the worker to leave the loop (stop request or SIGTERM)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise StopRun()


def _watch_parent(death_fd: int) -> None:
    """Runs on a daemon thread: the parent died when the death pipe reports EOF."""
    while True:
        try:
            data = os.read(death_fd, 1)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:
            break
    os.kill(os.getpid(), signal.SIGTERM)  # graceful stop: finalize every flow
    time.sleep(PARENT_GONE_GRACE)
    os._exit(3)


def output_codec(node: NodeIR) -> MessageCodec:
    """A codec rebuilding the structured port values of ``node``'s outputs."""
    classes = {e.alias or "": resolve_class(e.cls, node.source_file)
               for e in node.outputs.elements if e.cls}
    types: dict[str, Any] = {}
    for p in node.output_ports:
        cls = classes.get(p.alias) or classes.get("")
        if cls is not None:
            types[p.name] = envelope_field_types(cls).get(p.field, Any)
    return MessageCodec(types)


class _BlockAcks:
    """Acknowledges ``on_full='block'`` messages once every destination has stepped."""

    __slots__ = ("chan", "pending")

    def __init__(self, chan: InChannel) -> None:
        self.chan = chan
        self.pending: deque[set[str]] = deque()

    def stepped(self, name: str) -> None:
        n = 0
        for waiting in self.pending:
            waiting.discard(name)
        while self.pending and not self.pending[0]:
            self.pending.popleft()
            n += 1
        self.chan.ack(n)


class Worker:
    """Runs the flows of partition ``part`` until stopped."""

    def __init__(self, plan: Plan, part: str, ctl: ControlLink,
                 socks: dict[int, socket.socket], *, shm_slots: int,
                 waiting: WaitOptions | None = None) -> None:
        self.plan = plan
        self.waiting = waiting or WaitOptions()
        self.part = part
        self.ctl = ctl
        ir = plan.graph.ir
        nodes = plan.partitions[part].nodes
        self.order = topo_order(ir, nodes)
        self.runtimes: dict[str, NodeRuntime] = {}
        self.runtimes = build_runtimes(ir, only=nodes)
        self.observers = observers_from_env()  # e.g. live viewing (visualize=)
        self.routes: dict[str, list[Route]] = local_routes(ir, self.runtimes)
        self.t0 = 0.0
        self._epoll: select.epoll | None = None
        self.stopping = False
        self.settling = False
        self.remote_dropped: dict[str, int] = {}
        # outgoing channels, per source flow: (channel, source index)
        self.sends: dict[str, list[tuple[OutChannel, int]]] = {n: [] for n in nodes}
        self.outs: list[tuple[OutChannel, list[str]]] = []
        ring_base = (os.getpid() & 0xFFFFFF) << 20
        for ch in plan.channels:
            if ch.src != part:
                continue
            out = OutChannel(socks[ch.index], block=ch.block, capacity=ch.capacity,
                             nslots=shm_slots, ring_base=ring_base + (ch.index << 12))
            out.waiter = self._wait_for
            self.outs.append((out, ch.dst_flows))
            for src, idx in ch.sources.items():
                self.sends[src].append((out, idx))
        # incoming channels: per source index, the local routes and destination names
        self.ins: list[tuple[InChannel, list[str]]] = []
        self.acks: dict[str, list[_BlockAcks]] = {n: [] for n in nodes}
        handlers: dict[Any, Callable[[], None]] = {ctl.sock: self._control}
        for ch in plan.channels:
            if ch.dst != part:
                continue
            codecs = {idx: output_codec(ir.node(src)) for src, idx in ch.sources.items()}
            inc = InChannel(socks[ch.index], codecs, block=ch.block, capacity=ch.capacity)
            table: dict[int, tuple[list[Route], set[str]]] = {}
            for src, idx in ch.sources.items():
                rts = [(self.runtimes[d], pairs) for d, pairs in ch.routes[src]]
                table[idx] = (rts, {d for d, _ in ch.routes[src]})
            acker = _BlockAcks(inc) if ch.block else None
            if acker is not None:
                for d in ch.dst_flows:
                    self.acks[d].append(acker)
            self.ins.append((inc, ch.dst_flows))
            handlers[inc.sock] = self._receiver(inc, table, acker)
        for out, _ in self.outs:
            handlers[out.sock] = out.poll
        self.handlers = handlers
        self.rfds: list[Any] = list(handlers)
        self.triggered: list[tuple[NodeRuntime, str]] = []
        for name in self.order:
            c = self.runtimes[name].clock
            if c.kind in ("trigger", "hybrid"):
                self.triggered.append((self.runtimes[name],
                                       "trigger" if c.kind == "trigger" else "all"))
        # a flow's step can trigger another only through a local route
        local = {d.name for dsts in self.routes.values() for d, _ in dsts}
        chained = any(rt.name in local for rt, _ in self.triggered)
        self._passes = len(self.triggered) + 1 if chained else 1

    # ------------------------------------------------------------------ arrivals
    def _receiver(self, inc: InChannel, table: dict[int, tuple[list[Route], set[str]]],
                  acker: _BlockAcks | None) -> Callable[[], None]:
        """The handler of a readable channel: every arrival is delivered whole and the
        Trigger/Hybrid flows it triggers step before the next arrival is delivered, so a
        flow that keeps up runs once per message (see ``InChannel.receive`` for what a
        flow that fell behind gets)."""
        def on_readable() -> None:
            for data in inc.receive():
                got = inc.open(data)
                if got is None:
                    continue
                src, ts, msg = got
                rts, names = table[src]
                for rt, pairs in rts:
                    rt.deliver(pairs, ts, msg)
                if acker is not None:
                    acker.pending.append(set(names))
                if self.t0:  # not while settling before the first loop
                    self._run_triggered()
        return on_readable

    def _control(self) -> None:
        for m in self.ctl.receive():
            if m and m[0] == "stop":
                self.stopping = True
        if self.ctl.closed:  # the parent is gone
            self.stopping = True
        if self.stopping and not self.settling:
            raise StopRun()

    def _wait_for(self, sock: socket.socket, timeout: float) -> None:
        """Waiter of blocking channels: wait for an ack while honouring stop."""
        r, _, _ = select.select([sock, self.ctl.sock], [], [], timeout)
        if self.ctl.sock in r:
            self._control()

    # ------------------------------------------------------------------ running
    def _run(self, rt: NodeRuntime, now: float, mode: str) -> None:
        inp, _, msg = rt.execute(now, mode)
        name = rt.name
        if self.observers:
            notify(self.observers, name, rt.steps, now, inp, msg)
        for ack in self.acks[name]:
            ack.stepped(name)
        if msg:
            for dst, pairs in self.routes[name]:
                dst.deliver(pairs, now, msg)
            for out, idx in self.sends[name]:
                out.send(idx, now, msg)

    def _run_triggered(self) -> None:
        """Run the Trigger/Hybrid flows that received messages; local chains settle in
        a few passes."""
        triggered = self.triggered
        for _ in range(self._passes):
            ran = False
            for rt, mode in triggered:
                if rt.triggered():
                    self._run(rt, time.monotonic() - self.t0, mode)
                    ran = True
            if not ran:
                break

    def stats(self) -> dict[str, list[int]]:
        """Counters per flow: steps, lag events, skipped ticks, dropped, errors."""
        out: dict[str, list[int]] = {}
        for name, rt in self.runtimes.items():
            s = rt.stats()
            out[name] = [s["steps"], s["lag_events"], s["skipped_ticks"], s["dropped"],
                         s["errors"]]
        for chan, flows in self.outs:  # publisher-side drops belong to the destinations
            self._add_dropped(out, flows, chan.dropped)
        for inc, flows in self.ins:
            self._add_dropped(out, flows, inc.dropped)
        return out

    @staticmethod
    def _add_dropped(out: dict[str, list[int]], flows: list[str], n: int) -> None:
        if n and flows:
            row = out.setdefault(flows[0], [0, 0, 0, 0, 0])
            row[3] += n

    def loop(self, t0: float) -> None:
        """Schedule the partition's flows until a stop request (raises :class:`StopRun`)."""
        self.t0 = t0
        mono = time.monotonic
        start = mono() - t0
        periodic: list[tuple[NodeRuntime, LagTracker, str, float]] = []
        for name in self.order:
            rt = self.runtimes[name]
            c = rt.clock
            if c.hz:
                # spinning is capped at a tenth of the period: at most 10% of a core
                spin = min(self.waiting.spin, SPIN_SHARE / c.hz)
                periodic.append((rt, LagTracker(name, c.hz, c.on_lag, start),
                                 "none" if c.kind == "tick" else "all", spin))
        rfds = self.rfds
        handlers = self.handlers
        outs = [o for o, _ in self.outs]
        for out in outs:  # consumers greeted before "go": start from a clean credit
            out.poll()
        # Arrivals are awaited with epoll (cheapest wake-up); waits that end at a flow's
        # deadline use select, whose timeout has microsecond resolution (epoll's has
        # milliseconds, which would make Rate/Tick late).
        epoll = select.epoll()
        self._epoll = epoll
        by_fd: dict[int, Callable[[], None]] = {}
        for sock, fn in handlers.items():
            epoll.register(sock.fileno(), select.EPOLLIN)
            by_fd[sock.fileno()] = fn
        wait = select.select
        run_triggered = self._run_triggered
        busy = self.waiting.busy_poll
        next_stats = mono() + STATS_INTERVAL
        while True:
            now = mono() - t0
            flow_due = FAR
            spin = 0.0
            for rt, tracker, mode, flow_spin in periodic:
                if tracker.next_due <= now:
                    ticks = tracker.due(now)
                    rt.lag_events = tracker.lag_events
                    rt.skipped_ticks = tracker.skipped
                    for t in ticks:
                        self._run(rt, t, mode)
                if tracker.next_due < flow_due:
                    flow_due = tracker.next_due
                    spin = flow_spin
            run_triggered()  # flows fed by local flows
            wl = [o.sock for o in outs if o.pending and not o.flush()]
            wall = mono()
            if wall >= next_stats:
                next_stats = wall + STATS_INTERVAL
                self.ctl.send("stats", self.stats())
            rel = wall - t0
            if busy or flow_due - rel <= spin:
                # close to a deadline (or busy polling): look, do not sleep
                timeout, use_select = 0.0, bool(wl)
            else:
                precise = flow_due - spin
                next_due = min(precise, next_stats - t0)
                timeout = max(0.0, next_due - rel)
                use_select = precise < next_due + EPOLL_SLACK or bool(wl)
            if use_select:
                r, _, _ = wait(rfds, wl, (), timeout)
                for sock in r:
                    handlers[sock]()
            else:
                for fd, _ in epoll.poll(timeout):
                    by_fd[fd]()

    def settle(self) -> None:
        """Before finalizing: take in what already arrived and run the triggered flows
        once more, so that a staged stop loses no message in flight."""
        if not self.t0:
            return
        self.settling = True
        for inc, _ in self.ins:
            self.handlers[inc.sock]()
        self._run_triggered()
        for out, _ in self.outs:
            out.flush_blocking()

    def finalize(self) -> list[FlowError]:
        """Finalize every flow (all of them even if some fail)."""
        errors: list[FlowError] = []
        for name in self.order:
            try:
                self.runtimes[name].finalize()
            except FlowError as exc:
                errors.append(exc)
        for out, _ in self.outs:
            out.flush()
            out.close()
        if self._epoll is not None:
            self._epoll.close()
        close_all(self.observers)
        for inc, _ in self.ins:
            inc.close()
        return errors


def error_fields(exc: BaseException) -> list[Any]:
    """``[kind, flow, message, hint, traceback]`` describing ``exc`` for the parent."""
    if isinstance(exc, FlowError):
        text = exc.message
        prefix = f"flow {exc.flow!r} failed: "
        if text.startswith(prefix):
            text = text[len(prefix):]
        text = text.split("\n--- traceback from the flow ---\n", 1)[0]
        kind = "LagError" if isinstance(exc, LagError) else "FlowError"
        return [kind, exc.flow, text, exc.hint, exc.traceback_text, exc.code]
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    hint = exc.hint if isinstance(exc, RetrieverError) else ""
    return ["Error", None, f"{type(exc).__name__}: {exc}", hint, tb, ""]


def _tight_timer_slack() -> None:
    """Ask Linux to fire this process's timers within 1 µs of their deadline instead
    of the default 50 µs slack (``prctl(PR_SET_TIMERSLACK)``): Rate/Tick deadlines and
    waits become more precise at no CPU cost. Best effort: skipped where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux/glibc: the default slack works too
        pass


def worker_main(plan: Plan, part: str, ctl_sock: socket.socket,
                socks: dict[int, socket.socket], death_fd: int, *, shm_slots: int,
                waiting: WaitOptions | None = None) -> int:
    """Entry point of a forked worker; returns the process exit code."""
    _tight_timer_slack()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent coordinates Ctrl-C
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch_parent, args=(death_fd,), daemon=True,
                     name="retriever-parent-watch").start()
    ctl = ControlLink(ctl_sock)
    worker: Worker | None = None
    code = 0
    try:
        worker = Worker(plan, part, ctl, socks, shm_slots=shm_slots, waiting=waiting)
        ctl.send("ready", os.getpid())
        t0 = _wait_go(ctl)
        worker.loop(t0)
    except StopRun:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if worker is not None:
            try:
                worker.settle()
            except BaseException as exc:  # a flow failing while settling still counts
                ctl.send("error", *error_fields(exc))
                code = 1
    except BaseException as exc:  # reported to the parent, which decides what to do
        ctl.send("error", *error_fields(exc))
        code = 1
    # Stop requests and SIGTERM must not interrupt finalize.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if worker is not None:
        for err in worker.finalize():
            ctl.send("error", *error_fields(err))
            code = 1
        ctl.send("done", worker.stats())
    else:
        ctl.send("done", {})
    return code


def _wait_go(ctl: ControlLink) -> float:
    while True:
        select.select([ctl.sock], [], [])
        msgs = ctl.receive()
        if ctl.closed or any(m[0] == "stop" for m in msgs):
            raise StopRun()
        for m in msgs:
            if m[0] == "go":
                return float(m[1])
