"""Channels over byte-stream sockets: length-prefixed frames and rings announced by name.

Linux gives each channel a Unix ``SOCK_SEQPACKET`` socket pair, which keeps message
boundaries and passes a ring's descriptor as ``SCM_RIGHTS`` ancillary data. macOS has no
``SOCK_SEQPACKET`` for Unix sockets, so portable mode (and any system without it) uses a
plain ``SOCK_STREAM`` socket pair instead and rebuilds what the stream lacks here:

- **Frames.** Every message is a 12-byte header (a magic number, the length, and the
  length mixed with a constant) followed by the same bytes a datagram would carry and a
  4-byte trailer. :class:`FramedSocket` writes without blocking: a frame the
  kernel takes only in part leaves its *tail* behind, which is finished before any
  later frame (a message is accepted whole or not at all, as with datagrams). Reading
  drains what the kernel has and reassembles complete frames in a buffer; a partial
  frame waits there for the rest. Because every read returns *all* complete frames,
  the buffer only ever holds a partial frame between reads, so waiting for the raw
  socket to become readable stays correct.
- **Restarts.** Unlike a datagram socket, a stream outlives a half-read or half-written
  frame: a worker killed mid-frame leaves its successor (the socket pair stays with the
  run) in the middle of one. So the reader checks every header and trailer and, when
  they do not match, skips to the next magic number; and every channel end starts
  writing with a filler of zeros as long as the longest frame its role writes (a
  message for a producer, a short acknowledgement for a consumer), which completes
  (with a trailer of zeros, so it is rejected) any frame a predecessor left unfinished.
- **Rings by name.** A ring is a POSIX shared-memory segment created under a fresh name
  (``/retriever-<producer pid>-<serial>``). The announcement carries the name; the
  consumer opens it and removes the name at once (it is the only other process that
  maps the ring). Every name is reported to the supervising parent as it is made
  (``backing.on_named``); the parent removes the names of a worker that was killed at
  once and all names at the end of the run, and the producer removes the names a
  previous consumer never opened when a new one greets it. So nothing is left in
  ``/dev/shm`` after a run, SIGKILL included, without listing ``/dev/shm`` (macOS
  cannot). No descriptor ever travels, so the same scheme would work where descriptors
  cannot be passed at all.

The channels built on these frames are in ``framedchannel.py``; they keep the
semantics of the datagram channels and only change how bytes move.
"""

from __future__ import annotations

import functools
import socket
import struct

from retriever.contract.errors import BackendError

from .channel import (
    INLINE_MAX,
    SOCKET_BUFFER,
)
from .channel import channel_pair as datagram_pair

_HEAD = struct.Struct("<III")  # magic, payload length, length ^ LEN_CHECK
MAGIC = 0x52544652  # "RFTR"
_MAGIC_BYTES = struct.pack("<I", MAGIC)
LEN_CHECK = 0x5A3CC3A5
TRAILER = b"\xa5\x5a\xe7\x18"
_HEAD_SIZE = _HEAD.size
_OVERHEAD = _HEAD_SIZE + len(TRAILER)
#: Largest frame on a channel (a message with its body inline, or a ring announcement).
CHANNEL_FRAME_MAX = INLINE_MAX + 1024
#: Largest frame a consumer sends back (a greeting, an acknowledgement, a ring request).
FEEDBACK_FRAME_MAX = 256
CONTROL_FRAME_MAX = 1 << 21
READ_CHUNK = 1 << 16  # one read per wake-up: inline bodies are at most 32 KiB
#: The pending-queue entry of a frame the kernel took only in part (finish it first).
FINISH: tuple[bytes, None, int] = (b"", None, 0)


@functools.cache
def seqpacket_available() -> bool:
    """Whether Unix ``SOCK_SEQPACKET`` socket pairs exist here (not on macOS/Windows)."""
    try:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except (OSError, AttributeError):  # EPROTONOSUPPORT, or no such constant at all
        return False
    a.close()
    b.close()
    return True


def is_stream(sock: socket.socket) -> bool:
    """Whether ``sock`` is a byte stream (its messages need framing)."""
    return sock.type == socket.SOCK_STREAM


def stream_pair(buffer: int = SOCKET_BUFFER) -> tuple[socket.socket, socket.socket]:
    """A connected pair of stream sockets (Unix where it exists) with large buffers."""
    a, b = socket.socketpair()
    for s in (a, b):
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, buffer)
            except OSError:  # capped by the system (macOS): smaller buffers still work
                pass
    return a, b


def channel_pair(framed: bool | None = None) -> tuple[socket.socket, socket.socket]:
    """A connected pair of channel sockets: ``SOCK_SEQPACKET`` datagrams, or a stream
    carrying frames when ``framed`` (default: only where ``SOCK_SEQPACKET`` is missing)."""
    if framed is None:
        framed = not seqpacket_available()
    return stream_pair() if framed else datagram_pair()


def frame(data: bytes) -> bytes:
    """``data`` as one frame: header (magic, length, length check), data, trailer."""
    n = len(data)
    return _HEAD.pack(MAGIC, n, n ^ LEN_CHECK) + data + TRAILER


class FramedSocket:
    """Whole frames over one stream socket (see the module docs).

    The socket stays non-blocking; :meth:`send_all` switches it to blocking for the
    duration of one write. ``max_frame`` bounds what the reader trusts: a header naming
    a longer frame is treated as garbage."""

    __slots__ = ("_buf", "_chunk", "_raw", "_tail", "eof", "garbage", "max_frame", "sock",
                 "tolerant")

    def __init__(self, sock: socket.socket, max_frame: int = CONTROL_FRAME_MAX, *,
                 tolerant: bool = False) -> None:
        self.sock = sock
        # tolerant: a peer that is gone (reset, broken pipe) is end of file; what we
        # send_all to it is dropped, and send() refuses frames (a producer's channel
        # keeps them queued for the peer's successor, see FramedOutChannel). Only
        # loopback TCP channels see it (elsewhere the parent holds both ends of a pair).
        self.tolerant = tolerant
        sock.setblocking(False)
        self.max_frame = max_frame
        self._tail: memoryview | None = None
        self._buf = bytearray()  # the start of a frame whose end has not arrived
        self._raw = bytearray(READ_CHUNK)
        self._chunk = memoryview(self._raw)  # reads land here, no allocation
        self.eof = False
        self.garbage = 0  # bytes skipped to find a frame boundary again

    def lead_in(self, longest: int) -> None:
        """Begin this end's writing with zeros, before any frame, as many as the longest
        frame (of ``longest`` bytes of data) this end's role ever writes: a previous
        incarnation may have died with such a frame half written, and the filler
        completes it (the reader rejects it: its trailer is zeros) and is skipped in
        turn, so the reader finds our first frame."""
        self._tail = memoryview(bytes(longest + _OVERHEAD))

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self.sock.fileno()

    def attach(self, sock: socket.socket, *, eof: bool = False) -> None:
        """Carry on over another connection (loopback transport: the peer's successor
        connected, or, with ``eof``, a placeholder while there is none): what was left
        of a frame, written or read, belonged to the old connection and is forgotten."""
        self.sock = sock
        sock.setblocking(False)
        self._tail = None
        self._buf.clear()
        self.eof = eof

    @property
    def unsent(self) -> bool:
        """Whether part of an accepted frame is still waiting to be written."""
        return self._tail is not None

    def flush(self) -> bool:
        """Write what is left of a partly written frame; True once nothing is left."""
        tail = self._tail
        if tail is None:
            return True
        try:
            n = self.sock.send(tail)
        except (BlockingIOError, InterruptedError):
            return False
        except (BrokenPipeError, ConnectionResetError):
            return self._peer_gone()
        if n < len(tail):
            self._tail = tail[n:]
            return False
        self._tail = None
        return True

    def send(self, data: bytes) -> bool:
        """Send one frame without blocking. True: accepted (perhaps partly written, see
        :attr:`unsent`); False: nothing of it was written, try again later."""
        if self._tail is not None and not self.flush():
            return False
        if self.eof and self.tolerant:
            return False  # nobody to read it now: the caller keeps it or drops it
        whole = frame(data)
        try:
            n = self.sock.send(whole)
        except (BlockingIOError, InterruptedError):
            return False
        except (BrokenPipeError, ConnectionResetError):
            return self._peer_gone()
        if n < len(whole):
            self._tail = memoryview(whole)[n:]
        return True

    def send_all(self, data: bytes) -> None:
        """Finish any partly written frame, then send ``data`` (if any) as one frame,
        waiting for room. Raises ``OSError`` when the peer is gone."""
        sock = self.sock
        if self.eof and self.tolerant:
            return
        sock.setblocking(True)
        try:
            if self._tail is not None:
                sock.sendall(self._tail)
                self._tail = None
            if data:
                sock.sendall(frame(data))
        except (BrokenPipeError, ConnectionResetError):
            self._peer_gone()
        finally:
            if sock.fileno() >= 0:
                sock.setblocking(False)

    def _peer_gone(self) -> bool:
        """The peer reset the connection: re-raise, or (tolerant) drop what was left
        unsent and report end of file from now on; True (nothing left to write)."""
        if not self.tolerant:
            raise  # re-raises the error being handled (called in except blocks only)
        self.eof = True
        self._tail = None
        return True

    def frames(self) -> list[bytes]:
        """Every complete frame readable now, oldest first (never blocks). Sets
        :attr:`eof` when the peer closed its end."""
        out: list[bytes] = []
        chunk = self._chunk
        recv_into = self.sock.recv_into
        while True:
            try:
                n = recv_into(chunk)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:  # the peer died with our data unread
                n = 0
            if not n:
                self.eof = True
                break
            buf = self._buf
            if buf:  # a frame began in an earlier read
                buf += chunk[:n]
                with memoryview(buf) as view:
                    used = self._split(buf, view, len(buf), out)
                del buf[:used]
            else:  # the usual case: split the fresh bytes in place, keep the rest
                used = self._split(self._raw, chunk, n, out)
                if used < n:
                    buf += chunk[used:n]
            if n < READ_CHUNK:  # drained: spare the read that would say so
                break
        return out

    def _split(self, raw: bytearray, view: memoryview, end: int, out: list[bytes]) -> int:
        """Append the complete frames at the start of ``raw[:end]`` to ``out``; returns
        how many bytes were used up (frames, and garbage skipped)."""
        off = 0
        limit = self.max_frame
        while end - off >= _HEAD_SIZE:
            magic, size, check = _HEAD.unpack_from(raw, off)
            if magic == MAGIC and check == size ^ LEN_CHECK and size <= limit:
                stop = off + _HEAD_SIZE + size
                if stop + 4 > end:
                    break  # the rest has not arrived yet
                if raw[stop:stop + 4] == TRAILER:
                    out.append(bytes(view[off + _HEAD_SIZE:stop]))
                    off = stop + 4
                    continue
            # not a frame boundary: the rest of a frame whose start another incarnation
            # read, or a frame its writer never finished. Skip to the next magic number.
            nxt = raw.find(_MAGIC_BYTES, off + 1, end)
            skip_to = nxt if nxt >= 0 else max(off + 1, end - 3)
            self.garbage += skip_to - off
            off = skip_to
        return off

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def read_frame(sock: socket.socket) -> bytes | None:
    """Read exactly one frame from a blocking stream socket, nothing more (so that the
    frames after it stay in the kernel for whoever reads next). None at end of file."""
    head = _read_exact(sock, _HEAD_SIZE)
    if head is None:
        return None
    magic, size, check = _HEAD.unpack(head)
    if magic != MAGIC or check != size ^ LEN_CHECK or size > CONTROL_FRAME_MAX:
        raise BackendError("a framed socket does not start with a frame header",
                           hint="report this as a bug of the multiprocessing backend")
    body = _read_exact(sock, size + len(TRAILER))
    if body is None:
        return None
    return body[:size]


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


__all__ = ["CHANNEL_FRAME_MAX", "FEEDBACK_FRAME_MAX", "FramedSocket", "channel_pair", "frame",
           "is_stream", "read_frame", "seqpacket_available", "stream_pair"]
