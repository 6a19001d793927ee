"""What a worker does when one of its incoming channels is readable: read the waiting
messages, hand each to the flows it feeds and run the Trigger/Hybrid flows it triggers
before the next one (:func:`receiver`), and acknowledge ``on_full='block'`` messages once
their flows stepped (:class:`BlockAcks`).

Small messages whose body travels inline (the common case) are opened and delivered in
one place, without the general path's calls: on a virtual machine a worker that slept
finds its caches cold, and every call on the path costs a few microseconds then.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from ...graph import Route
from ...step import Scheduler
from ...transport import InChannel
from ...transport.channel import EARLY, HEADER_SIZE, SOURCE_TIME, Opened
from .arrivals import ArrivalPredictor

#: Per source index of a channel: the local routes, the destination flows, the predictor.
Table = dict[int, tuple[list[Route], set[str], ArrivalPredictor]]


class Host(Protocol):
    """What a receiver needs of its worker."""

    sched: Scheduler
    t0: float  # the run's start on the monotonic clock (0 until the loop starts)
    parked: set[InChannel]  # channels with messages announced early, still being copied


class BlockAcks:
    """Acknowledges ``on_full='block'`` messages once every destination has stepped."""

    __slots__ = ("chan", "pending")

    def __init__(self, chan: InChannel) -> None:
        self.chan = chan
        self.pending: deque[set[str]] = deque()

    def stepped(self, name: str) -> None:
        """Flow ``name`` stepped: acknowledge the messages all their flows have taken."""
        n = 0
        for waiting in self.pending:
            waiting.discard(name)
        while self.pending and not self.pending[0]:
            self.pending.popleft()
            n += 1
        self.chan.ack(n)


def receiver(host: Host, inc: InChannel, table: Table, acker: BlockAcks | None
             ) -> Callable[[], None]:
    """The handler of a readable channel: every arrival is delivered whole and the
    Trigger/Hybrid flows it triggers step before the next arrival is delivered, so a
    flow that keeps up runs once per message (see ``InChannel.receive`` for what a
    flow that fell behind gets)."""
    sched = host.sched
    mono = time.monotonic

    def deliver(got: Opened, seen: float = 0.0, large: bool = True) -> None:
        """Hand one opened message to its flows and run what it triggers;
        ``large``: it travelled in a slot (every early or parked message did)."""
        src, ts, msg = got
        rts, names, pred = table[src]
        sched.on_arrival(rts, ts, msg)
        if acker is not None:
            acker.pending.append(set(names))
        if host.t0:  # not while settling before the first loop
            now = mono() - host.t0
            sched.run_triggered(now)
            # after the steps: not on the message's path. A message announced early
            # arrived when its announcement did: be awake for the next one then
            # (its sender need not wake us, and we read it before the copy ends)
            pred.arrived(ts, seen or now, large=large)

    def early(data: bytes, last: bool) -> None:
        """A large message announced before its copy: wait for the commit, unless a
        later datagram shows that the copy is over already (``early.py``)."""
        seen = mono() - host.t0 if host.t0 else 0.0
        got = inc.open(data, wait=last)
        if got is not None:
            deliver(got, seen)
        if inc.parked:
            host.parked.add(inc)

    decoders = {src: codec.decoder() for src, codec in inc.codecs.items()}
    head = SOURCE_TIME.unpack_from
    run_triggered = sched.run_triggered

    def on_readable() -> None:
        batch = inc.receive()
        if inc.parked:  # announced early, copied since (or given up: see early.py)
            for done in inc.unparked(final=bool(batch)):
                deliver(done)
            if inc.parked:
                host.parked.add(inc)
            else:
                host.parked.discard(inc)
        for data in batch:
            flags = data[1]
            if not flags and host.t0:
                # a small message with its body inline (the common case): what
                # inc.open and deliver do, in one place (every call saved counts
                # on a path that runs cold after each sleep)
                src, ts = head(data, 2)
                inc.received += 1
                msg = decoders[src](memoryview(data)[HEADER_SIZE:])
                rts, names, pred = table[src]
                for rt, pairs in rts:
                    rt.deliver(pairs, ts, msg)
                if acker is not None:
                    acker.pending.append(set(names))
                now = mono() - host.t0
                run_triggered(now)
                pred.arrived(ts, now)
                continue
            if flags & EARLY:
                early(data, data is batch[-1])
                continue
            got = inc.open(data)
            if got is not None:
                deliver(got, 0.0, bool(flags))  # flags: the message is in a slot
    return on_readable
