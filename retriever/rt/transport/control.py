"""The control link between the supervising parent and one worker process.

Each control message is a msgspec-encoded list ``[kind, *fields]``: one datagram over a
Unix ``SOCK_SEQPACKET`` socket pair on Linux, one length-prefixed frame over a stream
socket pair in portable mode and where ``SOCK_SEQPACKET`` is missing (macOS;
:mod:`.framing`). End of file on the parent's end means the worker process is gone
(only the worker holds the other end).
"""

from __future__ import annotations

import socket
from typing import Any

from retriever.contract.wire import decode, encode

from .framing import FramedSocket, is_stream, seqpacket_available, stream_pair

MAX_CONTROL = 1 << 20


def control_pair(framed: bool | None = None) -> tuple[socket.socket, socket.socket]:
    """A connected (parent end, worker end) pair of control sockets: datagrams, or a
    stream carrying frames when ``framed`` (default: where ``SOCK_SEQPACKET`` is missing)."""
    if framed is None:
        framed = not seqpacket_available()
    if framed:
        return stream_pair(MAX_CONTROL * 2)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_CONTROL * 2)
        except OSError:  # capped by the system; control messages are small
            pass
    return a, b


class ControlLink:
    """One end of a control link: blocking sends, non-blocking receives."""

    __slots__ = ("closed", "sock", "stream")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False
        sock.setblocking(False)
        # a stream carries frames; every receive drains the complete ones, so waiting
        # for ``sock`` to be readable stays right
        self.stream = FramedSocket(sock) if is_stream(sock) else None

    def fileno(self) -> int:
        """The socket's file descriptor (for ``select``)."""
        return self.sock.fileno()

    def send(self, *items: Any) -> bool:
        """Send ``[items...]``; False when the peer is gone."""
        data = encode(list(items))
        if len(data) > MAX_CONTROL:
            data = encode([items[0], "control message too large"])
        if self.stream is not None:
            try:
                self.stream.send_all(data)
                return True
            except OSError:  # the peer exited: the caller learns it from EOF
                return False
        self.sock.setblocking(True)
        try:
            self.sock.send(data)
            return True
        except OSError:  # the peer exited: the caller learns it from EOF
            return False
        finally:
            try:
                self.sock.setblocking(False)
            except OSError:  # socket closed meanwhile
                pass

    def receive(self) -> list[list[Any]]:
        """Every message waiting now; sets :attr:`closed` on end of file."""
        if self.stream is not None:
            return self._receive_frames(self.stream)
        out: list[list[Any]] = []
        while not self.closed:
            try:
                data = self.sock.recv(MAX_CONTROL)
            except BlockingIOError:
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            out.append(decode(data))
        return out

    def _receive_frames(self, stream: FramedSocket) -> list[list[Any]]:
        if self.closed:
            return []
        try:
            frames = stream.frames()
        except OSError:  # reset by a peer that died
            self.closed = True
            return []
        if stream.eof:
            self.closed = True
        return [decode(data) for data in frames]

    def close(self) -> None:
        """Close this end."""
        self.closed = True
        self.sock.close()
