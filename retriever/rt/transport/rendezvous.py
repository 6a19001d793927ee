"""Connections made after start: the loopback transport, for systems where a new
process cannot inherit descriptors (Windows).

The native and portable modes hand each worker its sockets by inheritance. Here nothing
is inherited: every connection is made after the worker started, over TCP on the
loopback interface (``127.0.0.1``), and every one begins with an *introduction*: one
frame (:mod:`.framing`) holding a msgspec list ``["hello", token, *fields]``.

- The parent listens on an ephemeral port (:class:`Rendezvous`) and puts the address and
  a random token (:func:`secrets.token_bytes`) on each worker's command line. The worker
  connects twice: its *control* link, and a *watch* link the parent never writes to,
  whose end of file tells a thread of the worker that the parent is gone (the parent-
  death watchdog; a socket because Windows' ``select`` takes only sockets).
- A worker that consumes channels listens on its own ephemeral port and reports it
  (``["listen", port]``); the parent tells each producer where its consumers listen
  (``["peers", {channel: port}]``) and the producer connects, introducing the channel
  index and the token. Nagle's algorithm is off on every link. When the plan has a
  restart policy, workers keep listening for the whole run and a restarted worker
  connects every one of its channels to its live peers the same way
  (``backends/multiprocessing/rejoin.py``).

An introduction is checked before anything else is read from a connection: a wrong
token or a malformed frame closes it with a :class:`BackendError`; nothing from the wire
is ever executed or unpickled (msgspec only). Channels then carry the same frames as
portable mode's stream socket pairs.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from retriever.contract.errors import BackendError, ConfigError
from retriever.contract.wire import decode, encode

from .channel import SOCKET_BUFFER
from .framing import FEEDBACK_FRAME_MAX, LEN_CHECK, MAGIC, TRAILER, FramedSocket, read_frame

log = logging.getLogger("retriever.mp")
TRANSPORT_ENV = "RETRIEVER_MP_TRANSPORT"
TRANSPORTS = ("inherit", "loopback")
HOST = "127.0.0.1"
TOKEN_BYTES = 32
CONNECT_TIMEOUT = 60.0  # a spawned worker imports numpy and the user's modules first
INTRO_TIMEOUT = 5.0  # a connection must introduce itself this quickly


def transport() -> str:
    """``loopback`` on Windows or when ``RETRIEVER_MP_TRANSPORT=loopback`` asks for it
    (how Linux tests it); ``inherit`` (descriptors handed to new processes) otherwise."""
    raw = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if raw and raw not in TRANSPORTS:
        raise ConfigError(f"{TRANSPORT_ENV}={raw!r} is not a transport of the "
                          f"multiprocessing backend", hint=f"use one of {', '.join(TRANSPORTS)}")
    if sys.platform == "win32":
        if raw == "inherit":
            raise ConfigError(f"{TRANSPORT_ENV}=inherit cannot work on Windows",
                              hint="leave it unset: loopback is used on Windows")
        return "loopback"
    return raw or "inherit"


def tune(sock: socket.socket) -> socket.socket:
    """Nagle off (messages leave at once) and large buffers on a loopback link."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        except OSError:  # capped by the system: smaller buffers still work
            pass
    return sock


def listen() -> socket.socket:
    """A socket listening on an ephemeral loopback port."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((HOST, 0))
    lst.listen(64)
    return lst


def introduce(sock: socket.socket, token: bytes, *fields: Any) -> None:
    """Send the introduction frame ``["hello", token, *fields]`` on a new connection."""
    FramedSocket(sock, FEEDBACK_FRAME_MAX).send_all(encode(["hello", token, *fields]))


def connect(port: int, token: bytes, *fields: Any) -> socket.socket:
    """Connect to ``127.0.0.1:port`` and introduce ourselves; returns the tuned socket
    (blocking)."""
    sock = tune(socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT))
    introduce(sock, token, *fields)
    sock.setblocking(True)
    return sock


def check_intro(data: bytes | None, token: bytes, where: str) -> list[Any]:
    """The fields after the token of an introduction frame ``data``; a
    :class:`BackendError` when it is missing, malformed or carries another token."""
    if data is None:
        raise BackendError(f"a connection to {where} closed before introducing itself")
    try:
        msg = decode(data)
    except ValueError:
        msg = None
    if (not isinstance(msg, list) or len(msg) < 2 or msg[0] != "hello"
            or not isinstance(msg[1], bytes)):
        raise BackendError(f"a connection to {where} did not introduce itself",
                           hint="only the run's own workers may connect")
    if not hmac.compare_digest(msg[1], token):
        raise BackendError(f"a connection to {where} presented a wrong token: refused",
                           hint="only the run's own workers may connect; another program "
                                "tried to connect to this loopback port")
    return list(msg[2:])


def accept_intro(lst: socket.socket, token: bytes, where: str) -> tuple[socket.socket,
                                                                         list[Any]]:
    """Accept one connection on ``lst`` (readable) and read its introduction. A wrong
    introduction closes the connection and raises :class:`BackendError`."""
    sock, _ = lst.accept()
    try:
        sock.settimeout(INTRO_TIMEOUT)
        try:
            data = read_frame(sock)
        except (OSError, BackendError):  # timed out, reset, or not even a frame
            data = b""
        fields = check_intro(data, token, where)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return tune(sock), fields


class Introduction:
    """A connection accepted while the worker runs (a restarted peer's channel), whose
    introduction is read without blocking and without reading past it: call
    :meth:`read` whenever the socket is readable. Unlike :func:`accept_intro` a
    connection that is slow to introduce itself stalls nobody; its owner drops it after
    :attr:`deadline`."""

    _HEAD = struct.Struct("<III")

    def __init__(self, sock: socket.socket, token: bytes, where: str) -> None:
        self.sock = tune(sock)
        sock.setblocking(False)
        self.token = token
        self.where = where
        self.deadline = time.monotonic() + INTRO_TIMEOUT
        self._buf = bytearray()
        self._need = self._HEAD.size  # the header, then the whole frame

    def read(self) -> list[Any] | None:
        """The introduction's fields once it is complete, None until then; a
        :class:`BackendError` when the connection closed first, sent something other
        than an introduction frame or presented a wrong token."""
        while len(self._buf) < self._need:
            try:
                chunk = self.sock.recv(self._need - len(self._buf))
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:  # reset
                chunk = b""
            if not chunk:
                return check_intro(None, self.token, self.where)  # raises
            self._buf += chunk
            if len(self._buf) == self._HEAD.size:
                magic, size, check = self._HEAD.unpack(self._buf)
                if magic != MAGIC or check != size ^ LEN_CHECK or size > FEEDBACK_FRAME_MAX:
                    return check_intro(b"", self.token, self.where)  # raises
                self._need += size + len(TRAILER)
        body = bytes(self._buf[self._HEAD.size:])
        if body[-len(TRAILER):] != TRAILER:
            return check_intro(b"", self.token, self.where)  # raises
        return check_intro(body[:-len(TRAILER)], self.token, self.where)


def accept_all(lst: socket.socket, token: bytes, want: set[Any], key: Callable[[list[Any]],
               Any], *, where: str, alive: Callable[[], None] = lambda: None,
               timeout: float = CONNECT_TIMEOUT) -> dict[Any, socket.socket]:
    """Accept connections until one introduced itself for each key in ``want``
    (``key(fields)`` names it). Connections with a wrong introduction or an unexpected
    key are refused and logged, and waiting goes on; ``alive()`` raises when waiting is
    pointless (a process we wait for has exited). :class:`BackendError` on timeout."""
    got: dict[Any, socket.socket] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(got) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(map(str, want - set(got)))
                raise BackendError(f"{where}: no connection came for {', '.join(missing)} "
                                   f"within {timeout:g} s",
                                   hint="a worker may be stuck importing its modules")
            r, _, _ = select.select([lst], [], [], min(left, 0.1))
            if not r:
                alive()
                continue
            try:
                sock, fields = accept_intro(lst, token, where)
            except BackendError as exc:
                log.warning("%s", exc)
                continue
            k = key(fields)
            if k not in want or k in got:
                sock.close()
                log.warning("%s: refused an unexpected connection for %r", where, k)
                continue
            got[k] = sock
    except BaseException:
        for s in got.values():
            s.close()
        raise
    return got


def new_token() -> bytes:
    """A run's secret: what every connection of its workers must present."""
    return secrets.token_bytes(TOKEN_BYTES)


class Rendezvous:
    """The parent's listening socket and the run's token (``token``: the run's, for
    the listener that a restarted worker connects to)."""

    def __init__(self, token: bytes | None = None) -> None:
        self.token = token or new_token()
        self.listener = listen()
        self.port: int = self.listener.getsockname()[1]

    def close(self) -> None:
        """Stop listening."""
        self.listener.close()


__all__ = ["HOST", "TRANSPORT_ENV", "Introduction", "Rendezvous", "accept_all", "accept_intro",
           "check_intro", "connect", "introduce", "listen", "new_token", "transport", "tune"]
