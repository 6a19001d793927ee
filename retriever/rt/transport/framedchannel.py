"""Channels over byte-stream sockets: :class:`~.channel.OutChannel` and
:class:`~.inchannel.InChannel` with their bytes moved as frames (``framing.py``) and
their rings announced by name rather than passed as descriptors.

They keep the datagram channels' semantics (queue policy, credit, acknowledgements, ring
growth and retirement). :func:`open_out` / :func:`open_in` pick the right class from the
socket's type, so the worker does not care which kind of pair it was given.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Mapping

from retriever.contract.wire import MessageCodec, decode, encode

from . import backing
from .channel import HELLO, MSG, RING, OutChannel
from .framing import (
    CHANNEL_FRAME_MAX,
    FEEDBACK_FRAME_MAX,
    FINISH,
    FramedSocket,
    is_stream,
)
from .inchannel import InChannel
from .shm import ShmRing


class FramedOutChannel(OutChannel):
    """:class:`OutChannel` over a stream socket, announcing rings by name."""

    def __init__(self, sock: socket.socket, *, block: bool, capacity: int,
                 nslots: int = 4, ring_base: int = 0) -> None:
        super().__init__(sock, block=block, capacity=capacity, nslots=nslots,
                         ring_base=ring_base)
        self.early = False  # announcing a copy early needs datagrams (see early.py)
        self.stream = FramedSocket(sock, FEEDBACK_FRAME_MAX, tolerant=True)
        self.stream.lead_in(CHANNEL_FRAME_MAX)  # after a restart: past what one left
        if not self.stream.flush():
            self.pending.append(FINISH)
        self.names: dict[int, str] = {}  # ring id -> name the consumer may not have removed

    # ---------------------------------------------------------------- bytes out
    def _push(self, data: bytes, ring: ShmRing | None, slot: int) -> None:
        self.sent += 1
        stream = self.stream
        if not self.pending and stream.send(data):
            if stream.unsent:
                self.pending.append(FINISH)
            return
        if self.block and not stream.eof:  # within credit: the buffer frees up soon
            self.flush_blocking()
            self._send_blocking(data)
            return
        # (a block channel whose consumer is gone queues within its credit too)
        pending = self.pending
        pending.append((data, ring, slot))
        if not self.block and len(pending) - (not pending[0][0]) > self.capacity:
            i = 0 if pending[0][0] else 1  # a frame in progress cannot be dropped
            _, old_ring, old_slot = pending[i]
            del pending[i]  # drop the OLDEST message
            if old_ring is not None:
                old_ring.reclaim(old_slot)  # the consumer never saw it
            self.dropped += 1

    def _send_blocking(self, data: bytes) -> None:
        self.stream.send_all(data)

    def flush(self) -> bool:
        """Send queued messages that fit now; True when nothing is left to write (or
        nobody to write to: the queue waits for a new consumer, loopback transport)."""
        pending, stream = self.pending, self.stream
        if stream.eof:
            return True
        while pending:
            data = pending[0][0]
            if not (stream.send(data) if data else stream.flush()):
                return False
            pending.popleft()
            if stream.unsent:
                pending.appendleft(FINISH)
                return False
        return True

    # ---------------------------------------------------------------- rings
    def _add_ring(self, size: int) -> ShmRing:
        self._ring_count += 1
        ring_id = self._ring_base + self._ring_count
        if backing.TAGGED:  # Windows: a named mapping, no descriptor
            mm, name = backing.create_tagged(ShmRing.bytes_for(self.nslots, size))
            ring = ShmRing(ring_id, self.nslots, size, mm=mm)
            self.names[ring_id] = name
            self.rings.append(ring)
            self._announce(ring)
            return ring
        fd, name = backing.create_named(ShmRing.bytes_for(self.nslots, size))
        try:
            ring = ShmRing(ring_id, self.nslots, size, fd=fd)
        except BaseException:
            os.close(fd)
            backing.unlink(name)
            raise
        self.names[ring_id] = name
        self.rings.append(ring)
        self._announce(ring)
        return ring

    def _announce(self, ring: ShmRing) -> None:
        name = self.names.get(ring.ring_id)
        if name is None or self.stream.eof:  # name gone, or no consumer: a consumer
            return  # that lacks the ring loses its messages (a new one asks for rings)
        keep = [r.ring_id for r in self.rings]
        data = bytes((RING,)) + encode([ring.ring_id, ring.nslots, ring.slot_size, keep, name])
        self.flush_blocking()
        self._send_blocking(data)

    def _forget_names(self) -> None:
        """Remove every name a consumer may not have opened (it is gone, or we are)."""
        for name in self.unopened():
            backing.unlink(name)
        self.names = {}

    def unopened(self) -> list[str]:
        """Names of rings the consumer may not have opened yet (it removes those it
        opens). A closing worker hands them to the parent, which removes them once
        every worker has exited: the consumer may still be reading our last messages."""
        return list(self.names.values())

    # ---------------------------------------------------------------- feedback
    def poll(self) -> None:
        """Read acknowledgements, greetings and ring requests from the consumer."""
        for data in self.stream.frames():
            self._feedback(data)

    def _consumer_hello(self) -> None:
        super()._consumer_hello()
        self._forget_names()  # ... nor will it open rings it had not mapped

    def reconnect(self, sock: socket.socket, *, gone: bool = False) -> None:
        """Loopback transport: carry on over ``sock``, a new consumer's connection, or
        (``gone``) a placeholder while the consumer is away, during which messages
        queue as they do for a slow consumer (``drop``: the oldest beyond ``capacity``
        are dropped; ``block``: the producer waits for credit). The new consumer's
        greeting retires the rings its predecessor used."""
        self.sock = sock
        self.stream.attach(sock, eof=gone)
        self.pending = deque(p for p in self.pending if p[0])  # no frame in progress

    def close(self, *, unlink: bool = False) -> None:
        """Unmap the rings; with ``unlink``, also remove the names the consumer may not
        have opened (see :meth:`unopened` for why a worker leaves that to its parent)."""
        self._retire()
        if unlink:
            self._forget_names()


class FramedInChannel(InChannel):
    """:class:`InChannel` over a stream socket, opening rings by name."""

    def __init__(self, sock: socket.socket, codecs: Mapping[int, MessageCodec], *,
                 block: bool, capacity: int = 64) -> None:
        self.stream = FramedSocket(sock, CHANNEL_FRAME_MAX, tolerant=True)
        self.stream.lead_in(FEEDBACK_FRAME_MAX)  # after a restart: past what one left
        # (the base class greets the producer through the stream, filler first)
        super().__init__(sock, codecs, block=block, capacity=capacity)

    def _send_ctl(self, kind: int, value: int) -> None:
        self.stream.send_all(bytes((kind,)) + encode(value))

    def reconnect(self, sock: socket.socket, *, gone: bool = False) -> None:
        """Loopback transport: carry on over ``sock``, a new producer's connection
        (greeted at once), or (``gone``) a placeholder while the producer is away.
        Messages already received stay valid (their rings stay mapped until the new
        producer's first announcement retires them)."""
        self.sock = sock
        self.stream.attach(sock, eof=gone)
        self._requested.clear()
        if not gone:
            self._send_ctl(HELLO, 0)

    def receive(self) -> list[bytes]:
        """Every message frame waiting now, oldest first (see :meth:`InChannel.receive`
        for what a ``drop`` channel keeps of a backlog)."""
        if self._retired:
            self._close_retired()
        out: list[bytes] = []
        for data in self.stream.frames():
            kind = data[0]
            if kind == MSG:
                out.append(data)
            elif kind == RING:
                self._ring_message(data, [])
        if len(out) > self.capacity and not self.block:
            out = self._trim(out)
        return out

    def _ring_message(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        ring_id, nslots, slot_size, keep, name = decode(data[1:])
        # rings the producer retired are unmapped after the current batch
        self._retired = [r for r in self.rings if r not in set(keep)]
        if ring_id in self.rings:
            return
        if backing.TAGGED:  # Windows: map the name (it lives while anyone maps it)
            mm = backing.open_tagged(str(name), ShmRing.bytes_for(nslots, slot_size))
            self.rings[ring_id] = ShmRing(ring_id, nslots, slot_size, mm=mm)
            self._requested.discard(ring_id)
            return
        fd = backing.open_named(str(name))  # and removes the name: we were the last
        if fd < 0:  # the producer removed it (it retired the ring, or a new consumer came)
            return
        self.rings[ring_id] = ShmRing(ring_id, nslots, slot_size, fd=fd)
        self._requested.discard(ring_id)


def open_out(sock: socket.socket, *, block: bool, capacity: int, nslots: int = 4,
             ring_base: int = 0) -> OutChannel:
    """The producer end for ``sock``: framed over a stream, datagrams otherwise."""
    cls = FramedOutChannel if is_stream(sock) else OutChannel
    return cls(sock, block=block, capacity=capacity, nslots=nslots, ring_base=ring_base)


def open_in(sock: socket.socket, codecs: Mapping[int, MessageCodec], *, block: bool,
            capacity: int = 64) -> InChannel:
    """The consumer end for ``sock``: framed over a stream, datagrams otherwise."""
    cls = FramedInChannel if is_stream(sock) else InChannel
    return cls(sock, codecs, block=block, capacity=capacity)


__all__ = ["FramedInChannel", "FramedOutChannel", "open_in", "open_out"]
