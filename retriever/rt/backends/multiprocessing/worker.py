"""The loop of one worker process: the flows of one partition.

The partition's flows are scheduled by :class:`retriever.rt.step.Scheduler` (the one
scheduler every backend shares); this module brings the time source (the monotonic
clock since the run's start), the waiting and the I/O. It repeats: one scheduler pass
(:meth:`Scheduler.tick`: due periodic flows and triggered flows, in dependency order),
then wait (``select`` before a deadline, ``epoll`` otherwise) for the next deadline or
the next arrival (:mod:`retriever.rt.transport.wait`: epoll on Linux, kqueue or poll
in portable mode); the last ``spin`` seconds before a deadline are busy-waited, so
are short windows around the predicted arrival of the next message of each regular
stream (``spin_arrivals``, :mod:`.arrivals`: the worker wakes early by its timers'
measured lateness and dozes in short naps until the window opens), and ``busy_poll``
never sleeps at all (:class:`WaitOptions`). Garbage is collected just before the worker
sleeps, not in a message's path (:mod:`.idlegc`); ``realtime`` asks for ``SCHED_FIFO``
(:func:`apply_realtime`). A large frame announced before its copy
(:mod:`retriever.rt.transport.early`) is decoded at once and delivered when its slot is
committed; one whose copy is late is parked and looked at again every millisecond.
Each message arriving from another partition is delivered on its own and the
Trigger/Hybrid flows it triggers step before the next one is delivered. Other
partitions are reached through channels.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from retriever.contract.errors import FlowError
from retriever.contract.wire import MessageCodec
from retriever.ir.model import NodeIR

from ...errors import ErrorRecord
from ...graph import Route, output_port_types
from ...node import Message, NodeRuntime
from ...observe import close_all, notify, observers_from_env
from ...step import Scheduler, send_period
from ...transport import ControlLink, InChannel, OutChannel, backing, open_in, open_out
from ...transport.early import PARK_RECHECK
from ...transport.loan import SlotLender, send_lent
from ...transport.streamcopy import configure_busy
from ...transport.wait import Waiter, make_waiter
from .arrivals import NEVER, ArrivalPredictor, WakeLateness
from .idlegc import ROOM, IdleCollector
from .plan import Plan, WaitOptions, usable_cores
from .priority import apply_realtime, tight_timer_slack
from .proc import watch_parent
from .receive import BlockAcks, receiver

STATS_INTERVAL = 0.2  # the progress view refreshes every 0.5 s: counters stay current
SPIN_SHARE = 0.1  # the most of a periodic flow's period that spin may busy-wait
DOZE_NAP = 0.0001  # longest nap while dozing before an arrival window (0: spin instead)


class StopRun(BaseException):
    """Raised inside the worker to leave the loop (stop request or SIGTERM)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise StopRun()


def output_codec(node: NodeIR) -> MessageCodec:
    """A codec rebuilding the structured port values of ``node``'s outputs."""
    return MessageCodec(output_port_types(node))


class Worker:
    """Runs the flows of partition ``part`` until stopped."""

    def __init__(self, plan: Plan, part: str, ctl: ControlLink,
                 socks: dict[int, socket.socket], *, shm_slots: int,
                 waiting: WaitOptions | None = None,
                 counters: memoryview | None = None) -> None:
        self.plan = plan
        self.waiting = waiting or WaitOptions()
        self.part = part
        self.ctl = ctl
        ir = plan.graph.ir
        nodes = plan.partitions[part].nodes
        self.sched = sched = Scheduler(ir, only=nodes)
        self.order = sched.order
        self.runtimes: dict[str, NodeRuntime] = sched.runtimes
        self.observers = observers_from_env()  # e.g. live viewing (visualize=)
        self.t0 = 0.0
        self._waiter: Waiter | None = None
        self.stopping = False
        self.settling = False
        # outgoing channels, per source flow: (channel, source index)
        self.sends: dict[str, list[tuple[OutChannel, int]]] = {n: [] for n in nodes}
        self.outs: list[tuple[OutChannel, list[str]]] = []
        ring_base = (os.getpid() & 0xFFFFFF) << 20
        for ch in plan.channels:
            if ch.src != part:
                continue
            out = open_out(socks[ch.index], block=ch.block, capacity=ch.capacity,
                           nslots=shm_slots, ring_base=ring_base + (ch.index << 12))
            out.waiter = self._wait_for
            if counters is not None:
                out.count_into(counters, ch.index)
            self.outs.append((out, ch.dst_flows))
            for src, idx in ch.sources.items():
                self.sends[src].append((out, idx))
        # incoming channels: per source index, the local routes and destination names
        self.ins: list[tuple[InChannel, list[str]]] = []
        # channels holding messages announced early whose copy had not ended in time
        self.parked: set[InChannel] = set()
        # one arrival predictor per source flow heard from another partition
        self.predictors: list[ArrivalPredictor] = []
        self.lateness = WakeLateness()  # how late this worker's timed wake-ups are
        # a core per worker: every partition's clocks tick on the run's grid (see loop)
        self.on_grid = len(plan.partitions) <= usable_cores()
        self.garbage = IdleCollector()
        self.acks: dict[str, list[BlockAcks]] = {n: [] for n in nodes}
        handlers: dict[Any, Callable[[], None]] = {ctl.sock: self._control}
        for ch in plan.channels:
            if ch.dst != part:
                continue
            codecs = {idx: output_codec(ir.node(src)) for src, idx in ch.sources.items()}
            inc = open_in(socks[ch.index], codecs, block=ch.block, capacity=ch.capacity)
            if counters is not None:
                inc.count_from(counters, ch.index)
            table: dict[int, tuple[list[Route], set[str], ArrivalPredictor]] = {}
            for src, idx in ch.sources.items():
                rts = [(self.runtimes[d], pairs) for d, pairs in ch.routes[src]]
                pred = ArrivalPredictor(self.waiting.spin_arrivals, self.lateness,
                                        period=send_period(ir.node(src)),
                                        on_grid=self.on_grid)
                self.predictors.append(pred)
                table[idx] = (rts, {d for d, _ in ch.routes[src]}, pred)
            acker = BlockAcks(inc) if ch.block else None
            if acker is not None:
                for d in ch.dst_flows:
                    self.acks[d].append(acker)
            self.ins.append((inc, ch.dst_flows))
            handlers[inc.sock] = receiver(self, inc, table, acker)
        for out, _ in self.outs:
            handlers[out.sock] = out.poll
        self.handlers = handlers
        self.rfds: list[int] = [sock.fileno() for sock in handlers]  # select's, in the loop
        self.by_fd: dict[int, Callable[[], None]] = {}  # the loop's handlers, by descriptor
        self.side: list[socket.socket] = []  # served while a blocking channel waits too
        for name, chans in self.sends.items():
            if chans:  # loans of flows heard elsewhere live in their first channel's slots
                self.runtimes[name].desk.allocator = SlotLender(chans[0][0])
        for name, chans in self.sends.items():
            sched.send_from(name, self._sender(name, chans) if chans else None)
        sched.keep_local([n for n, chans in self.sends.items() if not chans])
        if self.observers or any(self.acks.values()):
            sched.on_run = self._after_run
        sched.should_stop = self._stop_requested

    def _control(self) -> None:
        for m in self.ctl.receive():
            if m and m[0] == "stop":
                self.stopping = True
        if self.ctl.closed:  # the parent is gone
            self.stopping = True
        if self.stopping and not self.settling:
            raise StopRun()

    def _stop_requested(self) -> bool:
        """Asked between catch-up runs: look at the control link without waiting
        (a stop request raises :class:`StopRun`)."""
        r, _, _ = select.select([self.ctl.sock], [], [], 0)
        if r:
            self._control()
        return self.stopping

    def _wait_for(self, sock: socket.socket, timeout: float) -> None:
        """Waiter of blocking channels: wait for an ack while honouring stop (and
        serving :attr:`side` sockets)."""
        r, _, _ = select.select([sock, self.ctl.sock, *self.side], [], [], timeout)
        if self.ctl.sock in r:
            self._control()
        for s in [s for s in self.side if s in r]:  # (handlers may change the list)
            self.handlers[s]()

    # ------------------------------------------------------------------ rewiring
    def watch(self, sock: socket.socket, handler: Callable[[], None]) -> None:
        """Call ``handler`` whenever ``sock`` is readable, in the loop and while a
        blocking channel waits (the loopback transport's listener: see ``rejoin.py``)."""
        self.handlers[sock] = handler
        self.rfds.append(sock.fileno())
        self.side.append(sock)
        if self._waiter is not None:
            self._waiter.register(sock.fileno())
            self.by_fd[sock.fileno()] = handler

    def unwatch(self, sock: socket.socket) -> None:
        """Stop calling the handler given to :meth:`watch` for ``sock`` (still open)."""
        self.handlers[sock] = _ignore
        self.rfds.remove(sock.fileno())
        self.side.remove(sock)
        if self._waiter is not None:
            self._waiter.unregister(sock.fileno())
            self.by_fd[sock.fileno()] = _ignore

    def rebind(self, old: socket.socket, new: socket.socket) -> None:
        """Wait on ``new`` instead of ``old`` (still open) with the same handler: a
        channel moved to another connection. A readiness of ``old`` already reported
        in this pass is ignored."""
        handler = self.handlers[old]
        self.handlers[old] = _ignore
        self.handlers[new] = handler
        self.rfds[self.rfds.index(old.fileno())] = new.fileno()
        if self._waiter is not None:
            self._waiter.unregister(old.fileno())
            self.by_fd[old.fileno()] = _ignore
            self._waiter.register(new.fileno())
            self.by_fd[new.fileno()] = handler

    # ------------------------------------------------------------------ running
    def _sender(self, name: str, sends: list[tuple[OutChannel, int]]
                ) -> Callable[[float, Message], None]:
        """What sends the messages of flow ``name`` to the other partitions that hear
        it (the scheduler calls it for each message the flow publishes)."""
        desk = self.runtimes[name].desk
        first, idx = sends[0]
        rest = sends[1:]
        put = first.send

        def send(now: float, msg: Message) -> None:
            if desk.lent:  # a published loan: its slot belongs to the first channel
                send_lent(first, idx, now, msg, desk)
            else:
                put(idx, now, msg)
            for out, i in rest:
                out.send(i, now, msg)
        return send

    def _after_run(self, rt: NodeRuntime, now: float, inp: Any, _out: Any,
                   msg: Message | None) -> None:
        name = rt.name
        if self.observers:
            notify(self.observers, name, rt.steps, now, inp, msg)
        for ack in self.acks[name]:
            ack.stepped(name)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters per flow (see :meth:`Scheduler.stats`)."""
        out = self.sched.stats()
        for chan, flows in self.outs:  # publisher-side drops belong to the destinations
            self._add_dropped(out, flows, chan.dropped)
        for inc, flows in self.ins:
            self._add_dropped(out, flows, inc.dropped)
        return out

    @staticmethod
    def _add_dropped(out: dict[str, dict[str, Any]], flows: list[str], n: int) -> None:
        if n and flows:
            row = out.setdefault(flows[0], {"dropped": 0})
            row["dropped"] = row.get("dropped", 0) + n

    def loop(self, t0: float) -> None:
        """Schedule the partition's flows until a stop request (raises :class:`StopRun`)."""
        self.t0 = t0
        mono = time.monotonic
        sched = self.sched
        if self.on_grid:
            # a core per worker: every partition's clocks tick together, so a worker
            # woken for its own tick takes its peers' messages of that tick in too
            sched.join_grid(mono() - t0)
        else:
            # more workers than cores: clocks that all tick at once would queue the
            # workers for the cores; starting each worker's clocks when its loop starts
            # spreads the ticks (a restarted worker joins the running clock)
            sched.anchor(mono() - t0)
        max_spin = self.waiting.spin
        handlers = self.handlers
        outs = [o for o, _ in self.outs]
        for out in outs:  # consumers greeted before "go": start from a clean credit
            out.poll()
        # Arrivals are awaited with the waiter (epoll on Linux: cheapest wake-up); waits
        # that end at a flow's deadline use select, whose timeout has microsecond
        # resolution (epoll's and poll's have milliseconds, which would make Rate/Tick late).
        waiter = make_waiter(self.waiting.waiter)
        self._waiter = waiter
        rfds, by_fd = self.rfds, self.by_fd  # (rebind and watch change them in place)
        for sock, fn in handlers.items():  # select is given descriptors: no fileno() calls
            if sock.fileno() in rfds:
                waiter.register(sock.fileno())
                by_fd[sock.fileno()] = fn
        # channels whose producer announces its messages in shared memory
        counted = [(inc, inc.counter, inc.counter_at, handlers[inc.sock])
                   for inc, _ in self.ins if inc.counter is not None]
        poll = waiter.poll
        slack = waiter.slack
        wait = select.select
        tick = sched.tick
        next_deadline = sched.next_deadline
        settled = sched.settled
        busy = self.waiting.busy_poll
        preds = self.predictors if self.waiting.spin_arrivals > 0.0 else []
        pred = preds[0] if len(preds) == 1 else None
        woke = self.lateness.woke
        nap_max = DOZE_NAP
        garbage = self.garbage
        garbage.start()
        next_due = precise = NEVER
        flow_due, spin = -NEVER, 0.0
        next_stats = mono() + STATS_INTERVAL
        parked = self.parked
        while True:
            if parked:  # messages announced early, still being copied: look again
                for inc in list(parked):
                    handlers[inc.sock]()
            wall = mono()
            # a pass only when a periodic flow is due or a flow is still armed: the
            # handlers ran what their arrivals triggered, and deadlines only move when
            # a periodic flow runs
            if wall - t0 >= flow_due or not settled():
                tick(wall - t0)
                flow_due, period = next_deadline()
                # spinning is capped at a tenth of the period: at most 10% of a core
                spin = min(max_spin, SPIN_SHARE * period)
                wall = mono()
            if counted:
                # messages already here (their producers' counters say so, e.g. a
                # peer's of the tick just run) are read now: no wait to learn of them
                took = False
                for inc, words, at, take in counted:
                    if words[at] > inc.seq:  # what InChannel.waiting says, one call less
                        take()
                        took = True
                if took:
                    wall = mono()
            wl: list[socket.socket] = []
            for o in outs:  # (a loop, not a comprehension: no frame of its own)
                if o.pending and not o.flush():
                    wl.append(o.sock)
            if wall >= next_stats:
                next_stats = wall + STATS_INTERVAL
                self.ctl.send("stats", self.stats())
            rel = wall - t0
            # the next arrival window of a regular stream that has not closed yet:
            # asleep until `early`, dozing until `arrive`, then polling
            if pred is not None:
                if pred.end > rel:
                    arrive, early = pred.start, pred.wake
                else:
                    arrive = early = NEVER
            elif preds:
                live = [p for p in preds if p.end > rel]
                arrive = min([p.start for p in live], default=NEVER)
                early = min([p.wake for p in live], default=NEVER)
            else:
                arrive = early = NEVER
            if not nap_max:
                arrive = early
            if busy or flow_due - rel <= spin or arrive <= rel:
                # close to a deadline or an expected message (or busy polling): look,
                # do not sleep
                timeout, use_select = 0.0, bool(wl)
                napping = False
            else:
                napping = early <= rel
                precise = min(flow_due - spin, min(arrive, rel + nap_max) if napping else early)
                if garbage.active and garbage.due() and precise - rel > ROOM:
                    # idle with time to spare: collect now rather than in a message's path
                    garbage.collect()
                    rel = mono() - t0
                next_due = min(precise, next_stats - t0)
                if parked:
                    next_due = min(next_due, rel + PARK_RECHECK)
                timeout = max(0.0, next_due - rel)
                use_select = precise < next_due + slack or bool(wl)
            if use_select:
                r, _, _ = wait(rfds, wl, (), timeout)
                if timeout > 0.0 and next_due == precise and not napping:
                    # asleep until a window opens (an arrival's, a deadline's spin):
                    # a wake-up at or after it measures how late timers come
                    late = mono() - t0 - precise
                    for fd in r:
                        by_fd[fd]()
                    if late >= 0.0:  # recorded after the handlers: off the message's path
                        woke(late)
                    continue
                for fd in r:
                    by_fd[fd]()
            else:
                for fd, _ in poll(timeout):
                    by_fd[fd]()

    def settle(self) -> None:
        """Before finalizing: take in what already arrived and run the triggered flows
        once more, so that a staged stop loses no message in flight."""
        if not self.t0:
            return
        self.settling = True
        for inc, _ in self.ins:
            self.handlers[inc.sock]()
        self.sched.run_triggered(time.monotonic() - self.t0)
        for out, _ in self.outs:
            out.flush_blocking()

    def finalize(self) -> list[FlowError]:
        """Finalize every flow (all of them even if some fail)."""
        self.garbage.stop()
        errors = self.sched.finalize_all()
        names: list[str] = []
        for out, _ in self.outs:
            out.flush()
            out.close()
            names += out.unopened()
        # rings our consumers may still open: the parent removes the names at the end
        if names and not self.ctl.send("names", names):
            for name in names:  # the parent is gone: nobody else will
                backing.unlink(name)
        if self._waiter is not None:
            self._waiter.close()
        close_all(self.observers)
        for inc, _ in self.ins:
            inc.close()
        return errors


def _ignore() -> None:
    """The handler of a socket a channel no longer uses."""


def worker_main(plan: Plan, part: str, ctl_sock: socket.socket,
                socks: dict[int, socket.socket], death_fd: int | socket.socket, *,
                shm_slots: int, waiting: WaitOptions | None = None,
                attach: Callable[[Worker], None] | None = None,
                counters: memoryview | None = None) -> int:
    """Entry point of a worker (forked, or spawned via :func:`.start.spawned_main`);
    returns the process exit code. ``attach`` is called with the worker before its
    loop starts (the loopback transport's reconnections: ``rejoin.py``). ``counters``:
    the channels' arrival counters, in memory shared with the other workers (forked
    workers only; see :mod:`retriever.rt.transport.channel`)."""
    tight_timer_slack()
    if waiting is not None and waiting.busy_poll:  # every worker keeps a processor busy
        configure_busy(len(plan.partitions))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent coordinates Ctrl-C
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=watch_parent, args=(death_fd,), daemon=True,
                     name="retriever-parent-watch").start()
    ctl = ControlLink(ctl_sock)
    if waiting is not None and waiting.realtime:
        ctl.send("scheduling", apply_realtime(waiting.realtime))
    # the parent learns each name as it is made: it removes them if we are killed
    backing.on_named = functools.partial(ctl.send, "shm")
    worker: Worker | None = None
    code = 0
    try:
        worker = Worker(plan, part, ctl, socks, shm_slots=shm_slots, waiting=waiting,
                        counters=counters)
        if attach is not None:
            attach(worker)
        ctl.send("ready", os.getpid())
        t0 = _wait_go(ctl)
        worker.loop(t0)
    except StopRun:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if worker is not None:
            try:
                worker.settle()
            except BaseException as exc:  # a flow failing while settling still counts
                ctl.send("error", ErrorRecord.of(exc).pack())
                code = 1
    except BaseException as exc:  # reported to the parent, which decides what to do
        ctl.send("error", ErrorRecord.of(exc).pack())
        code = 1
    # Stop requests and SIGTERM must not interrupt finalize.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if worker is not None:
        for err in worker.finalize():
            ctl.send("error", ErrorRecord.of(err).pack())
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
