"""The control link between the supervising parent and one worker process.

Each control message is a msgspec-encoded list ``[kind, *fields]`` sent as one datagram
over a Unix ``SOCK_SEQPACKET`` socket pair. End of file on the parent's end means the
worker process is gone (only the worker holds the other end).
"""

from __future__ import annotations

import socket
from typing import Any

from retriever.contract.wire import decode, encode

MAX_CONTROL = 1 << 20


def control_pair() -> tuple[socket.socket, socket.socket]:
    """A connected (parent end, worker end) pair of control sockets."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_CONTROL * 2)
        except OSError:  # capped by the system; control messages are small
            pass
    return a, b


class ControlLink:
    """One end of a control link: blocking sends, non-blocking receives."""

    __slots__ = ("closed", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False
        sock.setblocking(False)

    def fileno(self) -> int:
        """The socket's file descriptor (for ``select``)."""
        return self.sock.fileno()

    def send(self, *items: Any) -> bool:
        """Send ``[items...]``; False when the peer is gone."""
        data = encode(list(items))
        if len(data) > MAX_CONTROL:
            data = encode([items[0], "control message too large"])
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

    def close(self) -> None:
        """Close this end."""
        self.closed = True
        self.sock.close()
