"""The one lag-policy implementation: what a periodic clock does with missed ticks.

Ticks are due at absolute times ``start + k * period`` (no drift). When the scheduler
wakes up late, :meth:`LagTracker.due` says which tick times to execute now:

- ``warn``: run once for the newest due tick, skip the missed ones, log a throttled
  warning; ``drop``: the same, silently;
- ``error``: raise :class:`LagError` as soon as at least one tick was missed;
- ``catch_up``: run every due tick, oldest first (latency may grow).

A burst of due ticks that the end of the run cuts short is not lag: the scheduler counts
the ticks it did not run in :attr:`LagTracker.cut_at_stop`, apart from ``skipped``.
"""

from __future__ import annotations

import logging
import time

from retriever.contract.errors import LagError

log = logging.getLogger("retriever.lag")
WARN_INTERVAL = 1.0


class LagTracker:
    """Deadline bookkeeping and lag policy of one periodic clock."""

    __slots__ = ("_last_warn", "cut_at_stop", "flow", "lag_events", "next_due", "period",
                 "policy", "skipped")

    def __init__(self, flow: str, hz: float, policy: str, start: float) -> None:
        self.flow = flow
        self.period = 1.0 / hz
        self.policy = policy
        self.next_due = start
        self.lag_events = 0
        self.skipped = 0
        #: due ticks a catch-up burst had not run yet when the run stopped
        self.cut_at_stop = 0
        self._last_warn = -1e18

    def due(self, now: float) -> list[float]:
        """Tick times to execute at wall/logical time ``now`` (empty if none is due)."""
        nxt = self.next_due
        if now < nxt:
            return []
        period = self.period
        missed = int((now - nxt) / period)
        if missed <= 0:
            self.next_due = nxt + period
            return [nxt]
        self.lag_events += 1
        if self.policy == "error":
            raise LagError(
                self.flow,
                f"fell behind its {1.0 / period:g} Hz clock by {missed} tick(s) "
                f"({(now - nxt) * 1e3:.1f} ms late) and on_lag='error'",
                hint="make step() faster, lower hz, or choose on_lag='warn'/'drop'/'catch_up'",
            )
        ticks = missed + 1
        self.next_due = nxt + ticks * period
        if self.policy == "catch_up":
            return [nxt + k * period for k in range(ticks)]
        self.skipped += missed
        if self.policy == "warn":
            wall = time.monotonic()
            if wall - self._last_warn >= WARN_INTERVAL:
                self._last_warn = wall
                log.warning("flow %r is lagging: skipped %d tick(s) of its %g Hz clock "
                            "(%d skipped so far)", self.flow, missed, 1.0 / period,
                            self.skipped)
        return [nxt + missed * period]
