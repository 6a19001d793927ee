"""Predicting the next message of a regular stream, so that a worker can be awake for it.

A sleeping process is woken by the kernel when a message reaches its socket; on a virtual
machine that wake-up alone takes a few hundred microseconds, whatever the runtime does.
Most robot streams are periodic, though: a camera at 30 Hz, a controller at 500 Hz. A
worker that knows when the next message of such a stream is due can wake up shortly before
it (a timer, whose own latency the lead absorbs) and poll its channels without sleeping
until the message is there, as it already does before its own Rate/Tick deadlines.

:class:`ArrivalPredictor` learns one stream (one source flow on one channel) from the send
times the messages carry: the median of its recent gaps is the period, and the stream is
regular when those gaps, leaving out the most extreme one at each end (one late message
makes one long and one short gap), lie within one spin window of each other. Only a
regular stream with a period of at least :data:`MIN_PERIOD` gets a window; the window is
at most ``bound`` seconds and at most :data:`SHARE` of the period, so spinning costs at most
about a tenth of a core per stream, and a stream that stops or turns irregular costs
nothing after its last window. The window is placed around the predicted arrival: the
predicted send time plus the shortest recently observed delivery time (send time to
receive time, which also absorbs any constant offset between the two clocks).

The timer that opens a window is itself woken late, by as much as the wake-up it is
meant to avoid (a few hundred microseconds at the tail on a virtual machine, tens on
bare metal). :class:`WakeLateness` measures how late the worker's own timed wake-ups
are, and the window opens that much earlier (its tail estimate), though never more than
:data:`LEAD_SHARE` of the period before the arrival: the spinning then costs what this
machine needs, at most about a quarter of a core for a 500 Hz stream.
"""

from __future__ import annotations

import math

HISTORY = 8  # gaps (and delivery times) remembered per stream
SHARE = 0.1  # a window is at most this share of the stream's period
MIN_PERIOD = 0.0005  # faster streams (over 2 kHz) keep a worker busy anyway: never spin
LEAD = 0.75  # share of the window before the predicted arrival (the rest is for lateness)
LEAD_SHARE = 0.25  # the window never opens earlier than this share of the period
LATE_HISTORY = 32  # timed wake-ups remembered to estimate how late they are
NEVER = math.inf


class WakeLateness:
    """How late this process's timed wake-ups are: a tail estimate (the second largest
    of the last :data:`LATE_HISTORY`, about the 95th percentile), 0 until measured."""

    __slots__ = ("_i", "_late", "estimate")

    def __init__(self) -> None:
        self._late: list[float] = []
        self._i = 0
        self.estimate = 0.0

    def woke(self, late: float) -> None:
        """A wake-up that was due ``late`` seconds ago (negative: early) happened now."""
        late = max(0.0, late)
        values = self._late
        if len(values) < LATE_HISTORY:
            values.append(late)
        else:
            values[self._i] = late
            self._i = (self._i + 1) % LATE_HISTORY
        if len(values) >= 2:
            self.estimate = sorted(values)[-2]


class ArrivalPredictor:
    """When the next message of one stream is due, once the stream is regular.

    ``bound``: the longest spin window in seconds (0 never spins). After each message,
    :attr:`start` and :attr:`end` (run time, seconds) delimit the window in which the
    worker polls instead of sleeping; both are :data:`NEVER` while the stream is unknown,
    irregular or too fast.
    """

    __slots__ = ("_delivery", "_gaps", "_i", "_last", "bound", "end", "late", "start")

    def __init__(self, bound: float, late: WakeLateness | None = None) -> None:
        self.bound = bound
        self.late = late if late is not None else WakeLateness()
        self.start = NEVER
        self.end = NEVER
        self._last: float | None = None
        self._gaps: list[float] = []
        self._delivery: list[float] = []
        self._i = 0

    def arrived(self, sent: float, now: float) -> None:
        """A message sent at ``sent`` (its timestamp) was received at ``now``."""
        last = self._last
        self._last = sent
        if last is None or self.bound <= 0.0:
            return
        gaps, delivery = self._gaps, self._delivery
        if len(gaps) < HISTORY:
            gaps.append(sent - last)
            delivery.append(now - sent)
        else:
            i = self._i
            gaps[i] = sent - last
            delivery[i] = now - sent
            self._i = (i + 1) % HISTORY
        self.start = self.end = NEVER
        if len(gaps) < HISTORY:
            return
        ordered = sorted(gaps)
        period = 0.5 * (ordered[HISTORY // 2 - 1] + ordered[HISTORY // 2])
        if period < MIN_PERIOD:
            return
        window = min(self.bound, SHARE * period)
        if ordered[-2] - ordered[1] > window:  # irregular: no spinning for this stream
            return
        due = sent + period + min(delivery)
        lead = min(max(LEAD * window, self.late.estimate), LEAD_SHARE * period)
        self.start = due - lead
        # a message can come as late as a wake-up (its sender was woken by a timer too)
        self.end = due + min(max((1.0 - LEAD) * window, self.late.estimate),
                             LEAD_SHARE * period)

    @property
    def window(self) -> float:
        """The length of the current window (0 when there is none)."""
        return 0.0 if self.start == NEVER else self.end - self.start
