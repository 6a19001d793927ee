"""Restarts over the loopback transport: channels that outlive a peer.

With the loopback transport each channel is a TCP connection made directly between
two workers (:mod:`.loopback`), so it ends with either of them. When the plan has a
restart policy, every worker that has channels keeps its listening socket for the
whole run, and :class:`Rejoin` keeps each channel alive across its peer's death:

- A channel whose connection ends (end of file or reset, seen by its handler) is
  moved to a *placeholder*, one end of a local socket pair that never becomes
  readable, and marked gone. What was received before stays delivered; a producer
  queues what it sends meanwhile by the channel's policy, as for a slow consumer
  (``drop``: the newest ``capacity`` messages wait; ``block``: it waits for credit).
- The restarted worker connects *every* channel it has to the peers' listeners (the
  parent tells it their ports), introducing itself with the run's token and the
  channel's index; the survivor checks the introduction exactly as at start (a wrong
  token, a malformed frame or an index that is not one of its channels is refused
  and logged) and moves the channel to the new connection. The introduction is read
  as it arrives, without blocking the worker; a connection that has not introduced
  itself within 5 s is dropped when the next one comes (16 wait at most). The consumer greets the
  producer, which retires the rings the previous consumer had (new rings are
  announced by name, as at start).
- A peer that is gone too when a worker restarts is skipped: the channel starts gone
  and the peer's own successor connects to it later.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from typing import Any

from retriever.contract.errors import BackendError

from ...transport import rendezvous
from ...transport.framedchannel import FramedInChannel, FramedOutChannel
from .plan import Plan
from .worker import Worker

log = logging.getLogger("retriever.mp")
Channel = FramedInChannel | FramedOutChannel
MAX_PENDING = 16  # connections that have not introduced themselves yet, at most


def rejoinable(plan: Plan, part: str) -> bool:
    """Whether ``part``'s channels must survive a peer's restart (some partition has a
    restart policy) and ``part`` has any channel."""
    return (any(pol.policy != "never" for pol in plan.restart.values())
            and any(part in (ch.src, ch.dst) for ch in plan.channels))


def channel_key(fields: list[Any]) -> Any:
    """The channel index of a worker's introduction for a channel, or None."""
    if len(fields) == 2 and fields[0] == "chan" and type(fields[1]) is int:
        return fields[1]
    return None


def placeholder() -> tuple[socket.socket, socket.socket]:
    """A connected pair whose first end stands for a channel while its peer is gone:
    nothing is ever written to the second, so the first never becomes readable."""
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


class Rejoin:
    """A worker's side of its peers' restarts (see the module docs): its listener, the
    channels by index, and the placeholders of those whose peer is gone."""

    def __init__(self, listener: socket.socket, token: bytes, part: str,
                 socks: dict[int, socket.socket],
                 gone: dict[int, tuple[socket.socket, socket.socket]]) -> None:
        self.listener = listener
        self.token = token
        self.where = f"the worker of partition {part!r}"
        self.socks = socks  # index -> the socket each channel was opened with
        self.spare: dict[int, socket.socket] = {i: b for i, (_, b) in gone.items()}
        self.chans: dict[int, Channel] = {}
        self.worker: Worker | None = None
        self.intros: list[rendezvous.Introduction] = []  # accepted, not introduced yet

    def attach(self, worker: Worker) -> None:
        """Called before the worker's loop: watch the listener and every channel's end."""
        self.worker = worker
        by_sock = {id(s): i for i, s in self.socks.items()}
        for chan in [o for o, _ in worker.outs] + [i for i, _ in worker.ins]:
            if not isinstance(chan, (FramedInChannel, FramedOutChannel)):
                raise BackendError("the loopback transport runs framed channels only")
            idx = by_sock[id(chan.sock)]
            self.chans[idx] = chan
            worker.handlers[chan.sock] = self._watched(idx, worker.handlers[chan.sock])
            if idx in self.spare:  # its peer was gone when we started
                chan.reconnect(chan.sock, gone=True)
        worker.watch(self.listener, self._accept)

    def _watched(self, idx: int, handler: Any) -> Any:
        def on_readable() -> None:
            handler()  # delivers (or takes in feedback) before noticing the end
            chan = self.chans[idx]
            if chan.stream.eof and idx not in self.spare:
                self._gone(idx)
        return on_readable

    def _move(self, idx: int, new: socket.socket, *, gone: bool) -> None:
        chan = self.chans[idx]
        old = chan.sock
        assert self.worker is not None
        self.worker.rebind(old, new)
        chan.reconnect(new, gone=gone)
        old.close()
        spare = self.spare.pop(idx, None)
        if spare is not None:
            spare.close()

    def _gone(self, idx: int) -> None:
        """The peer of channel ``idx`` is gone: wait on a placeholder until its
        successor connects."""
        a, b = placeholder()
        self._move(idx, a, gone=True)
        self.spare[idx] = b
        log.info("%s: the peer of channel %d is gone; waiting for its successor",
                 self.where, idx)

    def _accept(self) -> None:
        """A connection on the listener: its introduction is read as it arrives
        (:meth:`_introduced`), the worker goes on meanwhile."""
        try:
            sock, _ = self.listener.accept()
        except OSError as exc:  # it went away before we accepted it
            log.warning("%s: a connection failed while being accepted: %s", self.where, exc)
            return
        now = time.monotonic()
        for old in [i for i in self.intros if i.deadline <= now]:
            self._drop(old, "did not introduce itself in time: refused")
        while len(self.intros) >= MAX_PENDING:
            self._drop(self.intros[0], "was dropped: too many wait for their introduction")
        intro = rendezvous.Introduction(sock, self.token, self.where)
        self.intros.append(intro)
        assert self.worker is not None
        self.worker.watch(sock, functools.partial(self._introduced, intro))

    def _drop(self, intro: rendezvous.Introduction, why: str) -> None:
        assert self.worker is not None
        self.worker.unwatch(intro.sock)
        self.intros.remove(intro)
        intro.sock.close()
        if why:
            log.warning("%s: a connection %s", self.where, why)

    def _introduced(self, intro: rendezvous.Introduction) -> None:
        """Readable: once the introduction is complete and checked (as at start), move
        its channel to the connection."""
        try:
            fields = intro.read()
        except BackendError as exc:
            self._drop(intro, "")
            log.warning("%s", exc)
            return
        if fields is None:
            return  # not complete yet
        idx = channel_key(fields)
        if idx not in self.chans:
            self._drop(intro, f"for {idx!r}, not one of its channels, was refused")
            return
        assert self.worker is not None
        self.worker.unwatch(intro.sock)
        self.intros.remove(intro)
        if idx not in self.spare:  # the old connection's end not seen yet: take in
            self.worker.handlers[self.chans[idx].sock]()  # what it still holds first
        self._move(idx, intro.sock, gone=False)
