"""The cyclic garbage collector of a worker runs while the worker is idle.

Python starts a collection of its young generation whenever enough container objects
were allocated since the last one, wherever that happens: in a worker it happens
inside a message's path (decoding, sampling, a flow's step) about once every hundred
messages, and a collection there costs that message about 100 µs on a small virtual
machine (a thousand or more when an older generation is due). That alone puts roughly
one message in a hundred in the latency tail.

:class:`IdleCollector` moves those collections to where they cost no message anything:
just before the worker goes to sleep with time to spare. It raises the young
generation's automatic threshold to :data:`BACKSTOP` times its value, so automatic
collections still bound memory in a worker that never sleeps (``busy_poll``, or a
worker that cannot keep up), and runs the generation the interpreter would have run
once the usual threshold is reached. At the start of the loop it also freezes what
exists then (``gc.freeze``: the modules, the flows and their state after ``reset``), so
that the full collections of the oldest generation no longer walk every object of the
program. A program that turned the collector off keeps it off.
"""

from __future__ import annotations

import gc

BACKSTOP = 50  # automatic collections still start at this many times the usual threshold
ROOM = 0.0005  # seconds before the next wake-up that a collection may use


class IdleCollector:
    """Collects garbage in a worker's idle time (see the module docs)."""

    __slots__ = ("active", "thresholds", "young")

    def __init__(self) -> None:
        self.thresholds = gc.get_threshold()
        self.young = self.thresholds[0]
        self.active = False

    def start(self) -> None:
        """Freeze what exists and take over the young generation's collections."""
        if not gc.isenabled() or self.young <= 0:
            return
        gc.freeze()
        young, middle, old = self.thresholds
        gc.set_threshold(young * BACKSTOP, middle, old)
        self.active = True

    def due(self) -> bool:
        """Whether the interpreter would have collected by now."""
        return self.active and gc.get_count()[0] >= self.young

    def collect(self) -> None:
        """Collect the generation the interpreter would have collected."""
        _, middle, old = gc.get_count()
        _, t_middle, t_old = self.thresholds
        gen = 0
        if middle >= t_middle:
            gen = 2 if old >= t_old else 1
        gc.collect(gen)

    def stop(self) -> None:
        """Give the collections back to the interpreter."""
        if self.active:
            self.active = False
            gc.set_threshold(*self.thresholds)
