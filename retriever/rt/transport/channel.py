"""Message channels between two worker processes over a Unix ``SOCK_SEQPACKET`` socket.

One channel carries every message that the flows of one partition send to the flows of
another partition. Each datagram is one whole message (all ports of one output
together). A datagram is a one-byte kind followed by:

- ``MSG``: a fixed binary header (source index, timestamp, shared-memory reference) and
  the msgspec body of the ``{port: value}`` message. Top-level numpy arrays of at least
  :data:`SHM_MIN` bytes are copied once into a slot of the channel's :class:`ShmRing`
  and replaced in the body by a small ``{"$shm": [offset, dtype, shape]}`` reference;
  a body too large for a datagram also travels in the slot.
- ``RING``: a new ring (its memfd travels as ``SCM_RIGHTS`` ancillary data).
- ``ACK`` (consumer -> producer): messages consumed, for ``on_full="block"`` credit.
- ``RING_REQ`` (consumer -> producer): a restarted consumer asks for the current ring.
- ``HELLO`` (consumer -> producer): a (re)started consumer resets the credit.

Queue policy: ``drop`` never blocks the publisher; when the socket is full, messages
wait in a bounded local queue that drops its oldest entry. ``block`` lets at most
``capacity`` messages be unconsumed; the publisher waits for acknowledgements.
"""

from __future__ import annotations

import array
import os
import socket
import struct
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from retriever.contract.wire import MessageCodec, decode, encode

from .shm import ShmRing, aligned

MSG, RING, ACK, RING_REQ, HELLO = 0, 1, 2, 3, 4
SHM_MIN = 4096
INLINE_MAX = 32 * 1024
RECV_MAX = INLINE_MAX + 256
# kind, flags, source index, timestamp, ring id, slot, generation, body offset, body length
_HDR = struct.Struct("<BBHdQIQII")
_HAS_SHM, _BODY_IN_SHM = 1, 2
_FD_SPACE = socket.CMSG_SPACE(array.array("i", [0]).itemsize)
SOCKET_BUFFER = 4 * 1024 * 1024

Waiter = Callable[[socket.socket], None]


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of message sockets with large kernel buffers."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:  # capped by the system; the default still works
                pass
    return a, b


def _send_nowait(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.send(data)
        return True
    except BlockingIOError:
        return False


class OutChannel:
    """The producer end of a channel."""

    def __init__(self, sock: socket.socket, *, block: bool, capacity: int,
                 nslots: int = 4, ring_base: int = 0) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.block = block
        self.capacity = max(1, capacity)
        self.nslots = max(2, nslots)
        self.ring: ShmRing | None = None
        self._ring_base = ring_base
        self._ring_count = 0
        self._slot_seq: list[int] = []
        self.pending: deque[bytes] = deque()
        self.sent = 0
        self.acked = 0
        self.dropped = 0
        self.waiter: Waiter | None = None

    # ------------------------------------------------------------------ sending
    def send(self, src: int, ts: float, message: Mapping[str, Any]) -> None:
        """Send one whole message (may wait for credit with ``on_full='block'``)."""
        if self.block:
            while self.sent - self.acked >= self.capacity:
                self._wait()
        big: list[tuple[str, np.ndarray, int]] = []
        size = 0
        for k, v in message.items():
            if type(v) is np.ndarray and v.nbytes >= SHM_MIN and not v.dtype.hasobject:
                big.append((k, v, size))
                size += aligned(v.nbytes)
        if not big:
            body = encode(message)
            if len(body) <= INLINE_MAX:
                self._push(_HDR.pack(MSG, 0, src, ts, 0, 0, 0, 0, 0) + body)
                return
            self._send_shm(src, ts, [], body, 0)
            return
        msg = dict(message)
        for k, v, off in big:
            msg[k] = {"$shm": [off, v.dtype.str, list(v.shape)]}
        body = encode(msg)
        self._send_shm(src, ts, big, body, size)

    def _send_shm(self, src: int, ts: float, big: list[tuple[str, np.ndarray, int]],
                  body: bytes, arrays_size: int) -> None:
        inline = len(body) <= INLINE_MAX
        need = arrays_size + (0 if inline else len(body))
        ring = self.ring
        if ring is None or ring.slot_size < need:
            ring = self._new_ring(need)
        slot = ring.next_slot()
        if self.block:  # never overwrite a slot whose message is not consumed yet
            while self._slot_seq[slot] >= self.acked:
                self._wait()
        slot, gen = ring.begin()
        for _, arr, off in big:
            ring.write_array(slot, off, arr)
        flags = _HAS_SHM
        if not inline:
            ring.write_bytes(slot, arrays_size, body)
            flags |= _BODY_IN_SHM
        ring.commit(slot, gen)
        self._slot_seq[slot] = self.sent
        head = _HDR.pack(MSG, flags, src, ts, ring.ring_id, slot, gen, arrays_size, len(body))
        self._push(head + body if inline else head)

    def _new_ring(self, need: int) -> ShmRing:
        self._ring_count += 1
        size = need + need // 4
        ring = ShmRing(self._ring_base + self._ring_count, self.nslots, size)
        if self.ring is not None:
            self.ring.close()
        self.ring = ring
        self._slot_seq = [-1] * ring.nslots
        self._announce()
        return ring

    def _announce(self) -> None:
        ring = self.ring
        if ring is None:
            return
        data = bytes((RING,)) + encode([ring.ring_id, ring.nslots, ring.slot_size])
        self.flush_blocking()
        self.sock.setblocking(True)
        try:
            socket.send_fds(self.sock, [data], [ring.fd])
        finally:
            self.sock.setblocking(False)

    def _push(self, data: bytes) -> None:
        self.sent += 1
        if self.pending or not _send_nowait(self.sock, data):
            if self.block:  # within credit: the kernel buffer frees up soon
                self.flush_blocking()
                self._send_blocking(data)
                return
            self.pending.append(data)
            if len(self.pending) > self.capacity:
                self.pending.popleft()  # drop the OLDEST queued message
                self.dropped += 1

    def _send_blocking(self, data: bytes) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.send(data)
        finally:
            self.sock.setblocking(False)

    def flush(self) -> bool:
        """Send queued messages that fit now; True when the queue is empty."""
        while self.pending:
            if not _send_nowait(self.sock, self.pending[0]):
                return False
            self.pending.popleft()
        return True

    def flush_blocking(self) -> None:
        """Send every queued message, waiting for room."""
        while self.pending:
            self._send_blocking(self.pending.popleft())

    def _wait(self) -> None:
        if self.waiter is None:
            raise RuntimeError("a blocking channel needs a waiter")
        self.waiter(self.sock)
        self.poll()

    # ------------------------------------------------------------------ feedback
    def poll(self) -> None:
        """Read acknowledgements and ring requests from the consumer."""
        while True:
            try:
                data = self.sock.recv(256)
            except BlockingIOError:
                return
            if not data:
                return
            kind = data[0]
            if kind == ACK:
                self.acked = min(self.sent, self.acked + int(decode(data[1:])))
            elif kind == HELLO:
                self.acked = self.sent
            elif kind == RING_REQ:
                self._announce()


class ArrayPool:
    """Destination arrays for copies out of shared memory, reused once released.

    A fresh multi-megabyte array costs page faults on every message; an array that
    nothing but this pool references any more (the flow dropped it and it left the
    port's history) is overwritten instead. ``limit`` arrays are remembered per
    (dtype, shape).
    """

    __slots__ = ("arrays", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = max(2, limit)
        self.arrays: dict[tuple[str, tuple[int, ...]], deque[np.ndarray]] = {}

    def take(self, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """An array of ``dtype``/``shape`` that nobody else references."""
        key = (dtype, shape)
        q = self.arrays.get(key)
        if q is None:
            if len(self.arrays) >= 16:  # shapes keep changing: forget the old ones
                self.arrays.clear()
            q = self.arrays[key] = deque()
        for i in range(len(q)):
            arr = q[i]
            if sys.getrefcount(arr) <= 3:  # the deque, ``arr`` and the call's argument
                del q[i]
                q.append(arr)
                return arr
        arr = np.empty(shape, dtype=np.dtype(dtype))
        q.append(arr)
        if len(q) > self.limit:
            q.popleft()
        return arr


class InChannel:
    """The consumer end of a channel.

    ``codecs[src]`` decodes messages of source index ``src``; :meth:`drain` calls
    ``on_message(src, ts, message)`` for every complete, still-valid message.
    """

    def __init__(self, sock: socket.socket, codecs: Mapping[int, MessageCodec], *,
                 block: bool, capacity: int = 64) -> None:
        self.sock = sock
        self.pool = ArrayPool(capacity + 4)
        sock.setblocking(False)
        self.codecs = dict(codecs)
        self.block = block
        self.rings: dict[int, ShmRing] = {}
        self.dropped = 0
        self.received = 0
        self._requested: set[int] = set()
        self._unacked = 0
        if block:
            self._send_ctl(HELLO, 0)

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

    def drain(self, on_message: Callable[[int, float, dict[str, Any]], None]) -> int:
        """Read every waiting datagram; returns how many messages were delivered."""
        n = 0
        sock = self.sock
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(RECV_MAX, _FD_SPACE)
            except BlockingIOError:
                return n
            if not data:
                return n
            kind = data[0]
            if kind == MSG:
                got = self._message(data)
                if got is not None:
                    on_message(*got)
                    n += 1
            elif kind == RING:
                fds = array.array("i")
                for level, typ, cdata in anc:
                    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
                ring_id, nslots, slot_size = decode(data[1:])
                if fds:
                    self._add_ring(ring_id, nslots, slot_size, fds[0])
                    for extra in fds[1:]:
                        os.close(extra)

    def _add_ring(self, ring_id: int, nslots: int, slot_size: int, fd: int) -> None:
        if ring_id in self.rings:
            os.close(fd)
            return
        for old in self.rings.values():  # the producer only uses its newest ring
            old.close()
        self.rings = {ring_id: ShmRing(ring_id, nslots, slot_size, fd=fd)}
        self._requested.discard(ring_id)

    def _message(self, data: bytes) -> tuple[int, float, dict[str, Any]] | None:
        _, flags, src, ts, ring_id, slot, gen, body_off, body_len = _HDR.unpack_from(data, 0)
        codec = self.codecs[src]
        self.received += 1
        if not flags & _HAS_SHM:
            return src, ts, codec.decode(memoryview(data)[_HDR.size:])
        ring = self.rings.get(ring_id)
        if ring is None:  # a restarted consumer: ask for the ring, lose this message
            if ring_id not in self._requested:
                self._requested.add(ring_id)
                self._send_ctl(RING_REQ, ring_id)
            self.dropped += 1
            return None
        if not ring.valid(slot, gen):
            self.dropped += 1
            return None
        if flags & _BODY_IN_SHM:
            body: bytes | memoryview = ring.read_bytes(slot, body_off, body_len)
        else:
            body = memoryview(data)[_HDR.size:]
        msg = codec.decode(body)
        for k, v in msg.items():
            if type(v) is dict and "$shm" in v:
                off, dtype, shape = v["$shm"]
                msg[k] = ring.read_array(slot, off, self.pool.take(dtype, tuple(shape)))
        if not ring.valid(slot, gen):  # overwritten while we copied: drop it whole
            self.dropped += 1
            return None
        return src, ts, msg

    def close(self) -> None:
        """Unmap the rings."""
        for ring in self.rings.values():
            ring.close()
        self.rings = {}
