"""How a dora node learns that its run is ending, even in the middle of a long step burst.

A node ends its event loop, finalizes its flows and exits on any of:

- dora's ``STOP`` event (the owner stopped the dataflow: duration over, ``stop()``, an
  error elsewhere). Between two runs of a ``catch_up`` burst the scheduler asks
  :meth:`NodeStop.requested`, which looks at dora's queue without waiting
  (``try_recv``): a ``STOP`` found there ends the burst; anything else found is held,
  in order, and handled after the burst as if it had just arrived (see
  :class:`HeldEvents` for what is kept);
- ``SIGTERM`` (what the run's guard sends to every process of the run when the owner
  died; ``dora run`` and dora's daemons then send ``STOP``): only a flag is set, so no
  flow is interrupted in the middle of a step; the event loop ends at its next event;
- the owner process is gone (a watchdog thread, for a guard that could not act): the
  same flag; if the node has still not ended ``OWNER_GRACE`` seconds later (a step that
  never returns) the process exits without finalizing.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

OWNER_POLL = 0.25   # seconds between two looks at the owner process
OWNER_GRACE = 10.0  # seconds a node may take to finalize once its owner is gone


class HeldEvents:
    """dora events taken off dora's queue early (while looking for ``STOP``), in order.

    Holding must not keep more than dora's queue would have: per data input at most its
    ``queue_size`` events (the oldest goes first, as dora drops it; the gap in the
    sender's numbering counts it as dropped), all of a ``backpressure`` input, and the
    newest event of each timer (the lag policy counts ticks from the flow's own clock,
    so an older timer event adds nothing).
    """

    def __init__(self, limits: dict[str, int | None], timers: Iterable[str]) -> None:
        self._limits = limits  # input id -> most events held (None: all of them)
        self._timers = set(timers)
        #: the held events, oldest first (the event loop tests it for emptiness: a
        #: plain deque is cheaper to test than this object)
        self.queue: deque[dict[str, Any]] = deque()
        self._count: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.queue)

    @staticmethod
    def _input_id(event: dict[str, Any]) -> Any:
        return event.get("id") if event.get("type") == "INPUT" else None

    def hold(self, event: dict[str, Any]) -> None:
        """Keep ``event`` for later (or not, or drop an older one: see the class docs)."""
        eid = self._input_id(event)
        if eid is not None:
            held = self._count.get(eid, 0)
            limit = 1 if eid in self._timers else self._limits.get(eid)
            if limit is not None and held >= limit:
                for i, old in enumerate(self.queue):
                    if self._input_id(old) == eid:
                        del self.queue[i]
                        break
                held -= 1
            self._count[eid] = held + 1
        self.queue.append(event)

    def pop(self) -> dict[str, Any]:
        """The oldest held event."""
        event = self.queue.popleft()
        eid = self._input_id(event)
        if eid is not None:
            self._count[eid] -= 1
        return event


class NodeStop:
    """The stop flag of one node (see the module docs)."""

    def __init__(self) -> None:
        #: set once the node must stop (a plain attribute: the event loop reads it per
        #: event; a signal handler or the watchdog thread sets it)
        self.stopping = False
        self.held: HeldEvents | None = None
        self.node: Any = None  # the dora Node once the event loop runs

    # ------------------------------------------------------------------ sources
    def install_sigterm(self) -> None:
        """SIGTERM sets the flag instead of ending the process at once."""
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, _sig: int, _frame: Any) -> None:
        self.stopping = True

    def watch_owner(self, owner: str) -> None:
        """Set the flag when the owner (``host:pid``, same host only) is gone."""
        host, _, pid_text = owner.rpartition(":")
        if host != socket.gethostname() or not pid_text.isdigit():
            return  # a remote owner: dora's STOP (or the guard on its host) ends us
        pid = int(pid_text)

        def loop() -> None:
            while True:
                time.sleep(OWNER_POLL)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    continue  # the pid exists (reused by another user): keep watching
            self.stopping = True
            # the main thread normally finalizes and exits well within the grace
            time.sleep(OWNER_GRACE)
            os._exit(70)

        threading.Thread(target=loop, name="retriever-owner-watch", daemon=True).start()

    # ------------------------------------------------------------------ asking
    def requested(self) -> bool:
        """Whether the node should stop now (looks at dora's queue without waiting)."""
        if self.stopping:
            return True
        node, held = self.node, self.held
        if node is None or held is None:
            return False
        while True:
            event = node.try_recv()
            if event is None:
                return False
            if event.get("type") == "STOP":
                self.stopping = True
                return True
            held.hold(event)
