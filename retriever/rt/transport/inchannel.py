"""The consuming end of a datagram message channel (the wire format and the producing
end are in :mod:`.channel`): receiving, the queue policy on the consumer's side, and
opening messages whose arrays stay in shared-memory slots."""

from __future__ import annotations

import array
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from retriever.contract.wire import MessageCodec, decode, encode

from . import early as early_mod
from .channel import (
    _BODY_IN_SHM,
    _EARLY,
    _FD_SPACE,
    _HAS_SHM,
    _HDR,
    _HDR_SIZE,
    _SEQ,
    _SEQ_AT,
    ACK,
    COUNTER_STRIDE,
    HELLO,
    MSG,
    RECV_MAX,
    RING,
    RING_REQ,
    Opened,
    _queued,
)
from .early import READY, Unready, settle_parked
from .shm import ShmRing


class InChannel:
    """The consumer end of a channel.

    ``codecs[src]`` decodes messages of source index ``src``. :meth:`receive` reads the
    waiting datagrams, :meth:`open` turns one into ``(src, ts, message)``.
    """

    def __init__(self, sock: socket.socket, codecs: Mapping[int, MessageCodec], *,
                 block: bool, capacity: int = 64) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.codecs = dict(codecs)
        self.block = block
        self.capacity = max(1, capacity)
        self.rings: dict[int, ShmRing] = {}
        self.dropped = 0
        self.received = 0
        self._requested: set[int] = set()
        self._retired: list[int] = []
        # messages announced early whose copy had not ended when we stopped waiting
        self.parked: deque[tuple[Opened, Unready]] = deque()
        self.counter: memoryview | None = None  # arrival counters (channel.py's docs)
        self.counter_at = 0
        self.seq = 0  # sequence number of the last message read
        self._send_ctl(HELLO, 0)

    def count_from(self, words: memoryview, index: int) -> None:
        """Learn of waiting messages from the producer's arrival counter
        ``words[index * COUNTER_STRIDE]`` (see :meth:`OutChannel.count_into`)."""
        self.counter = words
        self.counter_at = index * COUNTER_STRIDE
        # messages a predecessor left unread are not announced: the socket is readable
        self.seq = words[self.counter_at]

    def waiting(self) -> bool:
        """Whether the producer's counter announces a message not read yet (False
        without a counter: then only the socket's readiness tells)."""
        counter = self.counter
        return counter is not None and counter[self.counter_at] > self.seq

    def _send_ctl(self, kind: int, value: int) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.send(bytes((kind,)) + encode(value))
        finally:
            self.sock.setblocking(False)

    def ack(self, n: int) -> None:
        """Acknowledge ``n`` consumed messages (``on_full='block'`` credit)."""
        if n > 0:
            self._send_ctl(ACK, n)

    def _close_retired(self) -> None:
        """Unmap the rings the producer retired: the batch that announced their
        successor has been handled."""
        for rid in self._retired:
            ring = self.rings.pop(rid, None)
            if ring is not None:
                ring.close()
        self._retired = []

    def receive(self) -> list[bytes]:
        """Every message datagram waiting now, oldest first.

        On a ``drop`` channel only the newest ``capacity`` messages of each source are
        kept; older ones (the consumer fell behind) are dropped and counted.
        """
        if self._retired:
            self._close_retired()
        out: list[bytes] = []
        recvmsg = self.sock.recvmsg
        fd = self.sock.fileno()
        counter = self.counter
        at = self.counter_at
        try:  # normally called when the socket is readable (or the counter said so)
            data, anc, _flags, _addr = recvmsg(RECV_MAX, _FD_SPACE)
        except BlockingIOError:
            return out
        while data:
            kind = data[0]
            if kind == MSG:
                out.append(data)
                if counter is not None:
                    self.seq = _SEQ.unpack_from(data, _SEQ_AT)[0]
            elif kind == RING:
                self._ring_message(data, anc)
            # Is more queued? The producer's counter says so without a system call;
            # without one, ask the kernel rather than read until EAGAIN: a raised
            # exception is the dearest step of a wake-up while caches are cold.
            if counter is not None:
                if counter[at] <= self.seq:
                    break  # (a message sent meanwhile still makes the socket readable)
                try:
                    data, anc, _flags, _addr = recvmsg(RECV_MAX, _FD_SPACE)
                except BlockingIOError:  # a hint ahead of the queue: never fatal
                    break
                continue
            if not _queued(fd):
                break
            data, anc, _flags, _addr = recvmsg(RECV_MAX, _FD_SPACE)
        if len(out) > self.capacity and not self.block:
            out = self._trim(out)
        return out

    def _trim(self, batch: list[bytes]) -> list[bytes]:
        kept: list[bytes] = []
        seen: dict[int, int] = {}
        for data in reversed(batch):
            src = _HDR.unpack_from(data, 0)[2]
            n = seen.get(src, 0)
            if n < self.capacity:
                seen[src] = n + 1
                kept.append(data)
            else:
                self._discard(data)
        kept.reverse()
        return kept

    def _discard(self, data: bytes) -> None:
        """Drop a message unread, giving its slot back."""
        _, flags, _src, _ts, ring_id, slot, gen, _, _, _ = _HDR.unpack_from(data, 0)
        self.received += 1
        self.dropped += 1
        ring = self.rings.get(ring_id)
        if flags & _HAS_SHM and ring is not None and (
                ring.valid(slot, gen) or (flags & _EARLY and ring.writing(slot, gen))):
            ring.release(slot, gen)  # (free for the producer once it committed it)

    def drain(self, on_message: Callable[[int, float, dict[str, Any]], None]) -> int:
        """Receive and deliver every waiting message; returns how many were delivered."""
        n = 0
        batch = self.receive()
        if self.parked:
            for done in self.unparked(final=bool(batch)):
                on_message(*done)
                n += 1
        for i, data in enumerate(batch):
            got = self.open(data, wait=i == len(batch) - 1)
            if got is not None:
                on_message(*got)
                n += 1
        return n

    def unparked(self, *, final: bool) -> list[Opened]:
        """The parked messages whose copy has been committed since, oldest first;
        ``final``: a later datagram arrived (see :func:`.early.settle_parked`)."""
        ready, dropped = settle_parked(self.parked, final=final)
        self.dropped += dropped
        return ready

    def _ring_message(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        fds = array.array("i")
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
        ring_id, nslots, slot_size, keep = decode(data[1:])
        for extra in fds[1:]:
            os.close(extra)
        if not fds:
            return
        # rings the producer retired are unmapped after the current batch (messages
        # read before this announcement may still name them)
        self._retired = [r for r in self.rings if r not in set(keep)]
        if ring_id in self.rings:
            os.close(fds[0])
            return
        self.rings[ring_id] = ShmRing(ring_id, nslots, slot_size, fd=fds[0])
        self._requested.discard(ring_id)

    def open(self, data: bytes, *, wait: bool = True) -> Opened | None:
        """Decode one message datagram; arrays in shared memory become read-only views
        that pin their slot. None when the message cannot be read (it is dropped) or,
        announced before its copy ended (``early.py``), is not complete yet: it waits
        for the commit (``wait``: until shortly after the expected time; else not at
        all, for a datagram followed by others) and is parked when it is still not
        there (see :meth:`unparked`)."""
        _, flags, src, ts, ring_id, slot, gen, body_off, body_len, _ = _HDR.unpack_from(data, 0)
        codec = self.codecs[src]
        self.received += 1
        if not flags:
            return src, ts, codec.decode(memoryview(data)[_HDR_SIZE:])
        ring = self.rings.get(ring_id)
        if ring is None:  # a restarted consumer: ask for the rings, lose this message
            if ring_id not in self._requested:
                self._requested.add(ring_id)
                self._send_ctl(RING_REQ, ring_id)
            self.dropped += 1
            return None
        unready = None
        body_at = _HDR_SIZE
        if flags & _EARLY:
            body_at += READY.size
            if not ring.valid(slot, gen):
                if not ring.writing(slot, gen):
                    self.dropped += 1
                    return None
                unready = ring.unready(slot, gen, READY.unpack_from(data, _HDR_SIZE)[0])
        elif not ring.valid(slot, gen):
            self.dropped += 1
            return None
        if flags & _BODY_IN_SHM:
            msg = codec.decode(ring.read_bytes(slot, body_off, body_len))
        else:
            msg = codec.decode(memoryview(data)[body_at:])
        keys = [k for k, v in msg.items() if type(v) is dict and "$shm" in v]
        if not keys:  # only the body travelled in the slot, and it was copied
            ring.release(slot, gen)
            return src, ts, msg
        # read-only views that pin the slot (numpy keeps the pin as base of slices too);
        # made while an early message is still being copied, seen by no flow before
        views = ring.pin_views(slot, gen, [msg[k]["$shm"] for k in keys])
        for k, view in zip(keys, views, strict=True):
            msg[k] = view
        if unready is None:
            return src, ts, msg
        if wait:
            limit = early_mod.wait_limit(unready.ready_at, time.monotonic())
            early_mod.await_commit(unready, limit)
        if unready.committed():
            return src, ts, msg
        if wait and unready.writing():  # the producer is late: look again later
            self.parked.append(((src, ts, msg), unready))
        else:  # a later datagram followed it (its copy failed), or the slot was reused
            self.dropped += 1
        return None

    def close(self) -> None:
        """Unmap the rings (arrays still pinning slots keep their mapping alive)."""
        for ring in self.rings.values():
            ring.close()
        self.rings = {}
