"""Message channels between two worker processes over a Unix ``SOCK_SEQPACKET`` socket.

One channel carries every message that the flows of one partition send to the flows of
another partition. Each datagram is one whole message (all ports of one output
together). A datagram is a one-byte kind followed by:

- ``MSG``: a fixed binary header (source index, timestamp, shared-memory reference,
  sequence number) and the msgspec body of the ``{port: value}`` message. Top-level
  numpy arrays of at least :data:`SHM_MIN` bytes are copied once into a free slot of
  one of the channel's :class:`ShmRing` files and replaced in the body by a small
  ``{"$shm": [offset, dtype, shape]}`` reference; a body too large for a datagram also
  travels in the slot. The consumer hands out read-only arrays that view the slot
  (no copy); the slot returns to the producer when they are garbage collected. A large
  message may be announced before its copy (flag ``EARLY``, see ``early.py``).
  The consuming end, :class:`~.inchannel.InChannel`, is in ``inchannel.py``.
- ``RING``: a new ring (its memfd travels as ``SCM_RIGHTS`` ancillary data) and the ids
  of the rings still in use.
- ``ACK`` (consumer -> producer): messages consumed, for ``on_full="block"`` credit.
- ``RING_REQ`` (consumer -> producer): a restarted consumer asks for the current rings.
- ``HELLO`` (consumer -> producer): a (re)started consumer resets the credit; slots the
  previous consumer held are abandoned (new rings are made on demand).

Arrival counters: where both ends share a small memory page (workers forked from one
parent, :func:`arrival_counters`), the producer writes there the sequence number of the
last message the kernel took, after each send. The consumer compares it with the
sequence number of the last message it read: more is waiting exactly when the counter is
ahead, which it learns without a system call, both after a read (instead of asking the
kernel how much is queued) and before it would wait (a message already there is read
at once). The counter is a hint, never the only way to learn of a message: one it does
not yet announce (the producer is between its send and its write) still makes the
socket readable, so the worker's wait finds it.

Queue policy: ``drop`` never blocks the publisher; when the socket is full, messages
wait in a bounded local queue that drops its oldest entry, and the consumer keeps only
the newest ``capacity`` messages per source of what waited while it was busy.
``block`` lets at most ``capacity`` messages be unconsumed; the publisher waits for
acknowledgements. When every shared-memory slot is still in use by the consumer, the
producer adds a ring (up to four times the configured slot count); beyond that a
``drop`` channel drops the new message and a ``block`` channel waits.
"""

from __future__ import annotations

import array
import mmap
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from retriever.contract.arrays import array_header
from retriever.contract.wire import decode, encode, raw_encode

from . import early as early_mod
from .early import EARLY_MIN, CopyTimer, copy_announced
from .shm import ShmRing, aligned

try:
    import termios
    from fcntl import ioctl
    _SIOCINQ: int = termios.FIONREAD  # bytes queued (the same request as SIOCINQ)
except ImportError:  # pragma: no cover - Windows: only framed channels run there
    _SIOCINQ = -1

MSG, RING, ACK, RING_REQ, HELLO = 0, 1, 2, 3, 4
SHM_MIN = 4096
INLINE_MAX = 32 * 1024
RECV_MAX = INLINE_MAX + 256
# kind, flags, source index, timestamp, ring id, slot, generation, body offset, body length,
# sequence number
_HDR = struct.Struct("<BBHdQIQIIQ")
_HDR_SIZE = _HDR.size
_SEQ_AT = _HDR_SIZE - 8
_SEQ = struct.Struct("<Q")
#: Where a message datagram's body starts when it travels inline (flags byte 0).
HEADER_SIZE = _HDR_SIZE
#: Reads ``(source index, timestamp)`` of a message datagram at byte 2 (after the kind
#: and the flags): a receiver's fast path for inline messages (flags 0) needs no more.
SOURCE_TIME = struct.Struct("<Hd")
_HAS_SHM, _BODY_IN_SHM, _EARLY = 1, 2, 4
#: The flag (second byte of a message datagram) of a message announced before its copy.
EARLY = _EARLY
# absent where descriptors cannot travel (Windows): only framed channels run there
_FD_SPACE = (socket.CMSG_SPACE(array.array("i", [0]).itemsize)
             if hasattr(socket, "CMSG_SPACE") else 0)
SOCKET_BUFFER = 4 * 1024 * 1024
GROWTH = 4  # rings may grow to GROWTH x the configured slot count
MAX_RING_BYTES = 1 << 30
SLOT_WAIT = 0.001  # a block channel re-checks for a released slot this often
_NDARRAY = np.ndarray
_INQ = array.array("i", [0])


def _queued(fd: int) -> int:
    """Bytes waiting to be read on socket ``fd`` (Unix datagram channels only)."""
    ioctl(fd, _SIOCINQ, _INQ, True)
    return _INQ[0]


COUNTER_STRIDE = 8  # 64-bit words between two channels' counters: one cache line each


def arrival_counters(channels: int) -> mmap.mmap:
    """Shared memory for the arrival counters of ``channels`` channels (anonymous and
    shared: processes forked after this call share it); see the module docs."""
    return mmap.mmap(-1, max(1, channels) * COUNTER_STRIDE * 8)


def counter_words(mem: mmap.mmap) -> memoryview:
    """The 64-bit words of an :func:`arrival_counters` mapping."""
    return memoryview(mem).cast("Q")


def message_seq(data: bytes) -> int:
    """The sequence number in a message datagram's header."""
    seq: int = _SEQ.unpack_from(data, _SEQ_AT)[0]
    return seq


Waiter = Callable[[socket.socket, float], None]
#: An opened message: source index, timestamp, ``{port: value}``.
Opened = tuple[int, float, dict[str, Any]]
#: A datagram waiting to be sent, with the slot it fills (to reclaim if dropped).
_Pending = tuple[bytes, "ShmRing | None", int]


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


class OutChannel:
    """The producer end of a channel."""

    def __init__(self, sock: socket.socket, *, block: bool, capacity: int,
                 nslots: int = 4, ring_base: int = 0) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.block = block
        self.capacity = max(1, capacity)
        self.nslots = max(2, nslots)
        self.rings: list[ShmRing] = []
        self._ring_base = ring_base
        self._ring_count = 0
        self.pending: deque[_Pending] = deque()
        self.sent = 0
        self.acked = 0
        self.dropped = 0
        self.waiter: Waiter | None = None
        # announce large copies before making them (early.py); framed channels do not
        self.early = early_mod.env_enabled()
        self.copy_timer = CopyTimer()
        self.sent_early = 0  # messages announced before their copy
        self.seq = 0  # sequence number of the last message made
        self.counter: memoryview | None = None  # arrival counters (see the module docs)
        self.counter_at = 0

    def count_into(self, words: memoryview, index: int) -> None:
        """Write the sequence number of each message the kernel takes into
        ``words[index * COUNTER_STRIDE]`` (the consumer's arrival counter). A restarted
        producer continues the sequence where its predecessor left it."""
        self.counter = words
        self.counter_at = index * COUNTER_STRIDE
        self.seq = words[self.counter_at]

    def _posted(self, data: bytes) -> None:
        """``data`` (a queued message) was taken by the kernel: announce it."""
        if self.counter is not None and data and data[0] == MSG:
            self.counter[self.counter_at] = _SEQ.unpack_from(data, _SEQ_AT)[0]

    # ------------------------------------------------------------------ sending
    def send(self, src: int, ts: float, message: Mapping[str, Any]) -> None:
        """Send one whole message (may wait for credit with ``on_full='block'``)."""
        if self.block:
            while self.sent - self.acked >= self.capacity:
                self._wait(0.5)
        for v in message.values():
            if type(v) is _NDARRAY and v.nbytes >= SHM_MIN and not v.dtype.hasobject:
                self._send_arrays(src, ts, message)
                return
        # the common case, small values only: kept short (it runs cold after a sleep)
        body = raw_encode(message)
        if len(body) <= INLINE_MAX:
            self.seq = seq = self.seq + 1
            self._push(_HDR.pack(MSG, 0, src, ts, 0, 0, 0, 0, 0, seq) + body, None, 0)
            return
        self._send_shm(src, ts, [], body, 0)

    def _send_arrays(self, src: int, ts: float, message: Mapping[str, Any]) -> None:
        """Send a message with large arrays: they travel in a shared-memory slot."""
        big: list[tuple[str, np.ndarray, int]] = []
        size = 0
        msg = dict(message)
        for k, v in message.items():
            if type(v) is _NDARRAY and v.nbytes >= SHM_MIN and not v.dtype.hasobject:
                big.append((k, v, size))
                dtype, shape = array_header(v)
                msg[k] = {"$shm": [size, dtype, list(shape)]}
                size += aligned(v.nbytes)
        self._send_shm(src, ts, big, encode(msg), size)

    def _send_shm(self, src: int, ts: float, big: list[tuple[str, np.ndarray, int]],
                  body: bytes, arrays_size: int) -> None:
        inline = len(body) <= INLINE_MAX
        got = self._acquire(arrays_size + (0 if inline else len(body)))
        if got is None:  # the consumer holds every slot: drop this message
            self.dropped += 1
            return
        ring, slot = got
        gen = ring.begin(slot)
        # The datagram is ready before the copy: a frame's copy evicts the caches, so
        # only the commit and the send run cold after it.
        flags = _HAS_SHM if inline else _HAS_SHM | _BODY_IN_SHM
        timer = self.copy_timer
        self.seq = seq = self.seq + 1
        if (self.early and inline and arrays_size >= EARLY_MIN and timer.estimate >= 0.0
                and not self.pending):
            head = _HDR.pack(MSG, flags | _EARLY, src, ts, ring.ring_id, slot, gen,
                             arrays_size, len(body), seq)
            # announced, copied, committed; False: the consumer is behind (the kernel
            # did not take the datagram), notify it after the copy
            if copy_announced(self.sock, head, body, ring, slot, gen, big, timer):
                self.sent += 1
                self.sent_early += 1
                if self.counter is not None:
                    self.counter[self.counter_at] = seq
                ring.warm_next()
                return
        head = _HDR.pack(MSG, flags, src, ts, ring.ring_id, slot, gen, arrays_size, len(body),
                         seq)
        data = head + body if inline else head
        start = time.monotonic()
        for _, arr, off in big:
            ring.write_array(slot, off, arr)
        if not inline:
            ring.write_bytes(slot, arrays_size, body)
        ring.commit(slot, gen)
        if arrays_size >= EARLY_MIN:
            timer.took(time.monotonic() - start)
        self._push(data, ring, slot)
        ring.warm_next()  # the message is on its way: pre-fault a slot for later ones

    def _acquire(self, need: int) -> tuple[ShmRing, int] | None:
        """A free slot of at least ``need`` bytes: reuse, grow, wait or give up."""
        rings = self.rings
        if not rings or rings[0].slot_size < need:
            self._retire()
            return self._add_ring(need + need // 4), 0
        while True:
            for ring in rings:
                slot = ring.free_slot()
                if slot >= 0:
                    return ring, slot
            size = rings[0].slot_size
            limit = max(self.nslots, min(self.nslots * GROWTH, MAX_RING_BYTES // size))
            if len(rings) * self.nslots < limit:
                return self._add_ring(size), 0
            if not self.block:
                return None
            self._wait(SLOT_WAIT)

    def _add_ring(self, size: int) -> ShmRing:
        self._ring_count += 1
        ring = ShmRing(self._ring_base + self._ring_count, self.nslots, size)
        self.rings.append(ring)
        self._announce(ring)
        return ring

    def _retire(self) -> None:
        """Stop using every ring (the consumer unmaps them once nothing pins them)."""
        for ring in self.rings:
            ring.close()
        self.rings = []
        # datagrams still queued here name retired rings: the consumer drops them
        self.pending = deque((d, None, 0) for d, _, _ in self.pending)

    def _announce(self, ring: ShmRing) -> None:
        keep = [r.ring_id for r in self.rings]
        data = bytes((RING,)) + encode([ring.ring_id, ring.nslots, ring.slot_size, keep])
        self.flush_blocking()
        self.sock.setblocking(True)
        try:
            socket.send_fds(self.sock, [data], [ring.fd])
        finally:
            self.sock.setblocking(False)

    def _push(self, data: bytes, ring: ShmRing | None, slot: int) -> None:
        self.sent += 1
        if not self.pending:
            try:
                self.sock.send(data)
            except BlockingIOError:
                pass
            else:
                if self.counter is not None:  # data is the newest message made
                    self.counter[self.counter_at] = self.seq
                return
        if self.block:  # within credit: the kernel buffer frees up soon
            self.flush_blocking()
            self._send_blocking(data)
            return
        self.pending.append((data, ring, slot))
        if len(self.pending) > self.capacity:
            _, old_ring, old_slot = self.pending.popleft()  # drop the OLDEST message
            if old_ring is not None:
                old_ring.reclaim(old_slot)  # the consumer never saw it
            self.dropped += 1

    def _send_blocking(self, data: bytes) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.send(data)
        finally:
            self.sock.setblocking(False)
        self._posted(data)

    def flush(self) -> bool:
        """Send queued messages that fit now; True when the queue is empty."""
        pending = self.pending
        while pending:
            data = pending[0][0]
            try:
                self.sock.send(data)
            except BlockingIOError:
                return False
            pending.popleft()
            self._posted(data)
        return True

    def flush_blocking(self) -> None:
        """Send every queued message, waiting for room."""
        while self.pending:
            self._send_blocking(self.pending.popleft()[0])

    def _wait(self, timeout: float) -> None:
        if self.waiter is None:
            raise RuntimeError("a blocking channel needs a waiter")
        self.waiter(self.sock, timeout)
        self.poll()

    # ------------------------------------------------------------------ feedback
    def poll(self) -> None:
        """Read acknowledgements and ring requests from the consumer."""
        fd = self.sock.fileno()
        while _queued(fd):
            data = self.sock.recv(256)
            if not data:
                return
            self._feedback(data)

    def _feedback(self, data: bytes) -> None:
        """Act on one message from the consumer (both channel kinds share this)."""
        kind = data[0]
        if kind == ACK:
            self.acked = min(self.sent, self.acked + int(decode(data[1:])))
        elif kind == HELLO:
            self._consumer_hello()
        elif kind == RING_REQ:
            for ring in self.rings:
                self._announce(ring)

    def _consumer_hello(self) -> None:
        """A (new) consumer greets us: what it had not acknowledged is gone with its
        predecessor."""
        self.acked = self.sent
        self._retire()  # slots pinned by a previous consumer never come back

    def close(self) -> None:
        """Unmap the rings."""
        self._retire()

    def unopened(self) -> list[str]:
        """Names of shared memory the consumer may not have opened (none: rings travel
        as descriptors; see ``framedchannel.FramedOutChannel``)."""
        return []
