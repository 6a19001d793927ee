"""Early notification: a large message is announced *before* its arrays are copied.

Why: a 1080p frame takes about 0.7 ms to copy into a slot. Notifying the consumer only
after the copy puts the consumer's whole wake-up (reading the datagram, decoding the
body, making the read-only arrays; a few hundred microseconds on a virtual machine,
caches cold) behind it. Announcing the message first lets that work overlap the copy:
when the copy ends, the consumer is already waiting on the slot's generation word and
hands the message to its flows within microseconds of the commit.

The protocol (datagram channels only; see ``channel.py`` for the header):

- The producer prepares the datagram as usual, adds the :data:`EARLY` flag and the time
  (``time.monotonic``, which every process of the machine shares) at which it expects
  the copy to be committed: now plus :class:`CopyTimer`'s estimate from its recent
  copies. It sends that datagram, copies, and commits (the commit store follows the
  copy's stores, fenced, exactly as before). Nothing is sent after the copy. A message
  goes early only when its arrays total at least :data:`EARLY_MIN` bytes (a smaller
  copy is shorter than any wake-up), its body travels inline, nothing waits in the
  channel's queue and the kernel takes the datagram at once; otherwise it is sent after
  the commit as always.
- The consumer decodes the body and builds the arrays at once, but no flow sees them
  before the slot's generation word says the message is complete. It waits for that
  with :func:`await_commit`: short naps (other processes, the copying ones first, keep
  the processors) until :data:`SPIN_LEAD` before the expected time (earlier by twice
  the recent lateness of its naps, :class:`NapLateness`, which a busy machine makes
  late), then polling the word, for at most :data:`SPIN_MAX` past it, then naps again,
  giving up at :data:`COMMIT_GRACE` past the expected time.
- A message not committed by then is *parked* (the consumer goes back to its loop,
  re-checking it every :data:`PARK_RECHECK`). It is delivered once committed. It is
  dropped when a later datagram of the same channel arrives still uncommitted (the
  producer sends nothing after a message before that message's copy ended, so its copy
  failed) or after :data:`PARK_LIMIT` (the producer died mid-copy). The consumer never
  spins for long and never waits forever.

The consumer's worker feeds its arrival predictor (``arrivals.py``) the time the
announcement came, not the commit's, so on a regular stream it is awake when the next
announcement arrives. A copy that was announced is made in one thread unless a third
processor is free (``streamcopy.copy_threads``): the consumer works during it.

``RETRIEVER_MP_EARLY_NOTIFY=0`` turns it off (every message is sent after its copy).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the ring imports this module
    from .shm import ShmRing

#: What follows the header of a message announced early: when its commit is expected.
READY = struct.Struct("<d")

EARLY_ENV = "RETRIEVER_MP_EARLY_NOTIFY"
#: Messages whose arrays total fewer bytes are notified after their copy.
EARLY_MIN = 1 << 20
#: The consumer polls the generation word from this long before the expected commit.
SPIN_LEAD = 0.00006
#: ... and for at most this long after it, before napping again (the producer is late:
#: it was preempted, and a polling consumer would only take its processor).
SPIN_MAX = 0.0002
#: Longest nap while waiting for a commit.
NAP = 0.0001
#: Naps remembered to estimate how late they end.
NAP_HISTORY = 32
#: Polling never starts earlier than this before the expected commit.
LEAD_MAX = 0.0004
#: A message not committed this long after its expected time is parked.
COMMIT_GRACE = 0.002
#: The longest any single wait may last, whatever the expected time says.
WAIT_MAX = 0.02
#: A parked message is re-checked this often ...
PARK_RECHECK = 0.001
#: ... and dropped when still not committed this long after its expected time.
PARK_LIMIT = 1.0
#: Copies remembered per channel for the estimate.
HISTORY = 8


def env_enabled() -> bool:
    """Whether ``RETRIEVER_MP_EARLY_NOTIFY`` leaves early notification on (default)."""
    return os.environ.get(EARLY_ENV, "").strip().lower() not in ("0", "false", "no", "off")


class CopyTimer:
    """How long a channel's large copies take, from the early datagram's send to the
    commit: a low estimate (the second shortest of the last :data:`HISTORY`), because
    a consumer that starts polling a little early costs microseconds of CPU, while one
    that sleeps past the commit adds its lateness to the message's."""

    __slots__ = ("_recent", "estimate")

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=HISTORY)
        self.estimate = -1.0  # unknown: the first large message is not sent early

    def took(self, seconds: float) -> None:
        """A copy took ``seconds``."""
        recent = self._recent
        recent.append(seconds)
        ordered = sorted(recent)
        self.estimate = ordered[1] if len(ordered) > 1 else ordered[0]


@dataclass(slots=True)
class Unready:
    """A message announced early whose slot was not committed yet."""

    ring: ShmRing  # the ring holding it
    slot: int
    gen: int  # the generation the commit will publish
    ready_at: float  # when the producer expected the commit (time.monotonic)

    def committed(self) -> bool:
        """Whether the producer committed the message (its slot holds ``gen``)."""
        return not self.ring.closed and bool(self.ring.valid(self.slot, self.gen))

    def writing(self) -> bool:
        """Whether the producer is still writing this message (the odd generation)."""
        return not self.ring.closed and bool(self.ring.writing(self.slot, self.gen))


class NapLateness:
    """How late this process's naps end: the longest overshoot of the last
    :data:`NAP_HISTORY` (a busy machine makes them late: a napping consumer then stops
    napping that much earlier, so that it is polling when the commit comes)."""

    __slots__ = ("_late", "estimate")

    def __init__(self) -> None:
        self._late: deque[float] = deque(maxlen=NAP_HISTORY)
        self.estimate = 0.0

    def woke(self, late: float) -> None:
        """A nap ended ``late`` seconds after it should have."""
        recent = self._late
        if len(recent) == recent.maxlen and recent[0] >= self.estimate:
            recent.append(late)
            self.estimate = max(recent)  # the longest one left the window
        else:
            recent.append(late)
            self.estimate = max(self.estimate, late)


NAPS = NapLateness()


def await_commit(unready: Unready, limit: float) -> bool:
    """Wait until ``unready`` is committed (True) or ``limit`` (``time.monotonic``)
    passed, or the slot holds something else (False). Naps, then polls from
    :data:`SPIN_LEAD` before the expected time (earlier by twice the recent lateness of
    naps, at most :data:`LEAD_MAX` in all) for at most :data:`SPIN_MAX` after it, then
    naps again."""
    clock = time.monotonic
    sleep = time.sleep
    naps = NAPS
    ring, gen = unready.ring, unready.gen
    words, index = ring.words, unready.slot * ring.stride  # read directly: a tight loop
    spin_from = unready.ready_at - min(SPIN_LEAD + 2.0 * naps.estimate, LEAD_MAX)
    spin_to = unready.ready_at + SPIN_MAX
    while True:
        word = words[index]
        if word == gen:
            return True
        if word != gen - 1:  # neither being written nor committed: never will be
            return False
        now = clock()
        if now >= limit:
            return False
        if now < spin_from:
            nap = min(NAP, spin_from - now, limit - now)
            sleep(nap)
            naps.woke(clock() - now - nap)
        elif now > spin_to:
            sleep(min(NAP, limit - now))


def copy_announced(sock: socket.socket, head: bytes, body: bytes, ring: ShmRing, slot: int,
                   gen: int, arrays: list[tuple[str, np.ndarray, int]], timer: CopyTimer
                   ) -> bool:
    """The publisher's side: send the datagram (``head``, the expected commit time,
    ``body``) before copying ``arrays`` (``(port, array, offset)``) into ``slot``, then
    commit the slot. False, with nothing copied, when the kernel did not take the
    datagram (the consumer is behind: the caller notifies after the copy). A copy
    interrupted by an exception abandons the slot (the consumer stops waiting)."""
    start = time.monotonic()
    try:  # announce it now: the consumer wakes up while we copy
        sock.send(head + READY.pack(start + timer.estimate) + body)
    except BlockingIOError:
        return False
    try:
        for _, arr, off in arrays:
            ring.write_array(slot, off, arr, announced=True)
    except BaseException:
        ring.abandon(slot)
        raise
    ring.commit(slot, gen)
    timer.took(time.monotonic() - start)
    return True


def settle_parked(parked: deque[tuple[Any, Unready]], *, final: bool
                  ) -> tuple[list[Any], int]:
    """The consumer's side, for messages it parked: take out, oldest first and in
    order, those whose copy has been committed since (a message still being copied
    stops the list: it and those after it stay parked). ``final``: a later datagram
    arrived, so the producer's copies of these ended, and those still not committed
    failed; they are dropped, as are those parked longer than :data:`PARK_LIMIT`.
    Returns the messages to deliver and how many were dropped."""
    out: list[Any] = []
    dropped = 0
    now = time.monotonic()
    while parked:
        got, unready = parked[0]
        if not unready.committed() and not (
                final or not unready.writing() or now > unready.ready_at + PARK_LIMIT):
            break
        parked.popleft()
        if unready.committed():
            out.append(got)
        else:
            dropped += 1  # its views go with it: the slot is released
    return out, dropped


def wait_limit(ready_at: float, now: float) -> float:
    """Until when a consumer waits for a message expected at ``ready_at`` (both
    ``time.monotonic``) before parking it."""
    return min(max(ready_at, now) + COMMIT_GRACE, now + WAIT_MAX)


__all__ = ["COMMIT_GRACE", "EARLY_ENV", "EARLY_MIN", "PARK_LIMIT", "PARK_RECHECK", "READY",
           "CopyTimer", "NapLateness", "Unready", "await_commit", "copy_announced",
           "env_enabled", "settle_parked", "wait_limit"]
