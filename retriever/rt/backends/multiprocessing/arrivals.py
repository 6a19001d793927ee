"""Predicting the next message of a regular stream, so that a worker can be awake for it.

A sleeping process is woken by the kernel when a message reaches its socket; on a virtual
machine that wake-up alone takes a few hundred microseconds, whatever the runtime does.
Most robot streams are periodic, though: a camera at 30 Hz, a controller at 500 Hz. A
worker that knows when the next message of such a stream is due can wake up shortly before
it (a timer, whose own latency the lead absorbs) and poll its channels without sleeping
until the message is there, as it already does before its own Rate/Tick deadlines.

:class:`ArrivalPredictor` learns one stream (one source flow on one channel) from the
send times the messages carry. When the source is a ``Rate`` or ``Tick`` flow, the graph
already says its period (:func:`retriever.rt.step.send_period`): it publishes at most
once per tick, and its ticks are regular by construction (a late tick is late, not a
change of rhythm). Otherwise the median of its recent gaps is the period. The stream is
regular when its recent send times, each carried forward by whole periods to the last
one, agree within one spin window: all but the :data:`TRIM` latest of a learned stream
(a sender woken late by its own timer is late once; the message after it is on time
again; a young history leaves out fewer), at least half of them for a stream whose
period is known (only a source scattered across its period is irregular then). The next
send is predicted from that grid (the earliest of the carried-forward times) rather than
from the last message, which may have been a late one. Only a regular stream with a
period between :data:`MIN_PERIOD` and :data:`MAX_PERIOD` gets a window: a learned one
from its :data:`FIRST` message on, one of known period from its second
(:data:`HINTED_FIRST`), and one whose source ticks on the run's grid (``on_grid``: the
multiprocessing worker runs every partition's clocks at whole multiples of their periods
since the run's start) from its first, since the next tick's time is known then. A
stream's first messages are the ones a worker meets cold, and a run of a couple of
seconds has few enough messages that those first ones would otherwise be its 99th
percentile. The predicted arrival adds the shortest recently observed delivery time
(send time to receive time, which also absorbs any constant offset between the two
clocks; none is known after the first message, and the window then opens before the tick
itself).

Around the predicted arrival ``due`` there are three times. The worker polls from
:attr:`~ArrivalPredictor.start`, the base lead before ``due`` (three quarters of the base
window, which is at most ``bound`` seconds and at most :data:`SHARE` of the period). It
asks its timer to wake it at :attr:`~ArrivalPredictor.wake`, earlier by twice
(:data:`LATE_MARGIN`) how late this worker's timed wake-ups come at the tail (never more
than :data:`LEAD_SHARE` of the period; the tail is heavy, and dozing is cheap): after a
sleep of a few milliseconds a virtual machine's timer is at the tail a few hundred
microseconds late (tens on bare metal), while a sleep of a hundred microseconds or so is
woken on time, so between ``wake`` and ``start`` the worker dozes in such short naps
rather than polling (see the worker loop). The window ends at
:attr:`~ArrivalPredictor.end`, :data:`LEAD_SHARE` of the period after ``due``: the
message normally ends it within microseconds, so that tail costs CPU only when the
message is late (its sender was woken late) or missing, and then it is exactly what
keeps the late message from meeting a sleeping worker.

:class:`WakeLateness` measures how late the worker's own timed wake-ups are: its
estimate is about their 99th percentile over the last :data:`LATE_HISTORY` (and at least
:data:`LATE_PRIOR` until :data:`LATE_KNOWN` were timed: a run's first timers are its
coldest). A lead that
covered only the typical lateness (the 95th percentile, say) would still leave one
message in twenty or fifty to a cold wake-up, which is exactly the tail to remove.

Which streams are worth a window. A window costs about the same CPU for every message,
whatever the stream's rate (the early wake-up, a few naps, the polling: a few hundred
microseconds on a virtual machine), while what it saves, one cold wake-up of the
worker (tens to a few hundred microseconds), matters in proportion to the period: it is
a tenth of a 500 Hz period but a few hundredths of a 100 Hz one, where it is lost in the
noise of everything else a message goes through. Only streams with a period of at most
:data:`MAX_PERIOD` (about 167 Hz: 200 Hz and faster) get windows. A slower stream's
message simply wakes the worker, and most of the time not even that: the
multiprocessing worker runs the periodic clocks of every partition on one grid, so a
worker woken for its own tick usually finds the messages its peers sent on the same
tick already waiting, or takes them in while it is still awake. The predictor of a
slower stream only records its sends and looks at them again every :data:`HISTORY`
messages (its rate may change). Streams whose messages travel in shared-memory slots
(frames, copied or loaned) are the exception: they get windows at any rate. There the
saved wake-up is a large share of what a frame's delivery costs once its copy is done
(a loaned frame's whole latency is little more than that wake-up), while a window per
frame at camera rates costs a fraction of a percent of a core. The bound is fixed
rather than derived from the measured lateness on purpose: the lateness a 500 Hz
consumer measures (its naps are short) and the one a 100 Hz worker measures (it sleeps
whole periods) overlap once expressed as shares of their periods, so a test on that
share turned the 500 Hz windows off now and then.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from itertools import pairwise

HISTORY = 8  # gaps (and delivery times) remembered per stream
FIRST = 4  # sends needed before a stream's first window (the whole history must agree)
HINTED_FIRST = 2  # the same when the source's clock period is known (one delivery time)
TRIM = 2  # latest sends left out when judging regularity (late, not irregular)
SHARE = 0.1  # the base window is at most this share of the stream's period
MIN_PERIOD = 0.0005  # faster streams (over 2 kHz) keep a worker busy anyway: never spin
LEAD = 0.75  # share of the base window before the predicted arrival
LEAD_SHARE = 0.25  # the window never opens earlier, nor stays open longer, than this
LATE_HISTORY = 128  # timed wake-ups remembered to estimate how late they are
LATE_RANK = 2  # the estimate is the LATE_RANK-th largest of them (about the 99th pct)
LATE_MARGIN = 2.0  # the worker asks to be woken this many estimates early (it dozes)
LATE_PRIOR = 0.0002  # the estimate is at least this until LATE_KNOWN wake-ups were timed
LATE_KNOWN = 16
MAX_PERIOD = 0.006  # slower streams (under ~167 Hz) are not worth a window (see above)
NEVER = math.inf


class WakeLateness:
    """How late this process's timed wake-ups are: a tail estimate (the
    :data:`LATE_RANK`-th largest of the last :data:`LATE_HISTORY`, about the 99th
    percentile). Until :data:`LATE_KNOWN` wake-ups were timed it is at least
    :data:`LATE_PRIOR`, what a virtual machine's timers come late at the tail: the
    first windows of a run are met by a worker that wakes early and dozes (a few naps)
    rather than by one whose first, coldest timer came too late."""

    __slots__ = ("_i", "_late", "_sorted", "estimate")

    def __init__(self) -> None:
        self._late: list[float] = []  # in arrival order (a ring once full)
        self._sorted: list[float] = []  # the same values, sorted
        self._i = 0
        self.estimate = LATE_PRIOR

    def woke(self, late: float) -> None:
        """A wake-up that was due ``late`` seconds ago (negative: early) happened now."""
        late = max(0.0, late)
        values, ordered = self._late, self._sorted
        if len(values) < LATE_HISTORY:
            values.append(late)
        else:
            old = values[self._i]
            values[self._i] = late
            self._i = (self._i + 1) % LATE_HISTORY
            del ordered[bisect_left(ordered, old)]
        insort(ordered, late)
        self.estimate = ordered[-min(LATE_RANK, len(ordered))]
        if len(ordered) < LATE_KNOWN:
            self.estimate = max(self.estimate, LATE_PRIOR)


class ArrivalPredictor:
    """When the next message of one stream is due, once the stream is regular.

    ``bound``: the longest base window in seconds (0 never spins). After each message,
    :attr:`start` and :attr:`end` (run time, seconds) delimit the window in which the
    worker polls instead of sleeping; both are :data:`NEVER` while the stream is unknown,
    irregular, too fast, or too slow to be worth a window (:data:`MAX_PERIOD`).
    :attr:`wake` is when the worker asks its timer to wake it for the window.
    ``period``: the source's own clock period when the graph says it
    (:func:`retriever.rt.step.send_period`; 0: learned from the sends); ``on_grid``: the
    source ticks at whole multiples of it since the run's start.
    """

    __slots__ = ("_delivery", "_quiet", "_sent", "bound", "end", "late", "on_grid", "period",
                 "start", "wake")

    def __init__(self, bound: float, late: WakeLateness | None = None,
                 period: float = 0.0, on_grid: bool = False) -> None:
        self.bound = bound
        self.late = late if late is not None else WakeLateness()
        self.period = period  # the source's own clock period, when it is known (else 0)
        self.on_grid = on_grid and period > 0.0  # its ticks fall on multiples of it
        self.start = NEVER
        self.wake = NEVER
        self.end = NEVER
        self._sent: deque[float] = deque(maxlen=HISTORY + 1)
        self._delivery: deque[float] = deque(maxlen=HISTORY)
        self._quiet = 0  # messages left before a stream not worth a window is analysed

    def arrived(self, sent: float, now: float, large: bool = False) -> None:
        """A message sent at ``sent`` (its timestamp) was received at ``now``;
        ``large``: it travelled in a shared-memory slot (no :data:`MAX_PERIOD` bound)."""
        if self.bound <= 0.0:
            return
        sends = self._sent
        if sends:
            self._delivery.append(now - sent)
        sends.append(sent)
        if self._quiet:  # not worth a window: only remembered until the next analysis
            self._quiet -= 1
            return
        self.start = self.wake = self.end = NEVER
        n = len(sends)
        period = self.period
        need = (1 if self.on_grid else HINTED_FIRST) if period else FIRST
        if n < need:
            return
        if not period:
            gaps = sorted([b - a for a, b in pairwise(sends)])
            period = 0.5 * (gaps[(n - 2) // 2] + gaps[(n - 1) // 2])  # the median
        if period < MIN_PERIOD:
            return
        if period > MAX_PERIOD and not large:
            self._quiet = HISTORY - 1  # analysed again every HISTORY messages
            return
        window = min(self.bound, SHARE * period)
        if n == 1:  # on the run's grid: the next tick is the next multiple of the period
            # (no delivery time is known yet: the window opens before the tick itself)
            self._place(math.floor(sent / period + 1e-6) * period + period, window, period)
            return
        # each recent send carried forward by whole periods to the last one: on a
        # regular stream they agree, except for sends that were late (a young history
        # leaves out fewer: one of its first `need` sends, none before)
        ahead = sorted([s + round((sent - s) / period) * period for s in sends])
        keep = (n + 1) // 2 if self.period else n - min(TRIM, n - need)
        if ahead[keep - 1] - ahead[0] > window:
            return  # irregular: no spinning for this stream
        grid = ahead[0]  # the last send as if it had been on time
        self._place(grid + period + min(self._delivery), window, period)

    def _place(self, due: float, window: float, period: float) -> None:
        """The window around an arrival expected at ``due``."""
        cap = LEAD_SHARE * period
        self.start = due - min(LEAD * window, cap)
        self.wake = due - min(max(LEAD * window, LATE_MARGIN * self.late.estimate), cap)
        self.end = due + cap

    @property
    def window(self) -> float:
        """The length of the current window (0 when there is none)."""
        return 0.0 if self.start == NEVER else self.end - self.start

