"""What a worker asks of the operating system's scheduler: a tight timer slack for its
own deadlines and, with ``realtime=``, the ``SCHED_FIFO`` policy (both best effort)."""

from __future__ import annotations

import ctypes
import os

PR_SET_TIMERSLACK = 29
TIMER_SLACK_NS = 1000


def tight_timer_slack() -> None:
    """Ask Linux to fire this process's timers within 1 µs of their deadline instead
    of the default 50 µs slack (``prctl(PR_SET_TIMERSLACK)``): Rate/Tick deadlines and
    waits become more precise at no CPU cost. Best effort: skipped where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)
    except (OSError, AttributeError, TypeError):  # not Linux/glibc: the default works too
        pass


def apply_realtime(priority: int) -> str:
    """Ask for ``SCHED_FIFO`` at ``priority`` for this worker (``realtime=``): ordinary
    tasks (other programs, the parent, kernel housekeeping threads) can then no longer
    preempt it while it polls for or handles a message. Returns what was granted, or
    why not: the worker then runs with the ordinary scheduler, and the parent reports
    it (a warning and :attr:`FlowStats.scheduling`), never silently. Processes the
    flows start do not inherit the policy (``SCHED_RESET_ON_FORK``)."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None:
        return "refused: SCHED_FIFO is not available on this platform"
    policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        setter(0, policy, os.sched_param(priority))
    except PermissionError:
        return (f"refused: SCHED_FIFO {priority} is not permitted (it needs CAP_SYS_NICE "
                f"or an RLIMIT_RTPRIO of at least {priority})")
    except OSError as exc:
        return f"refused: SCHED_FIFO {priority}: {exc.strerror or exc}"
    return f"SCHED_FIFO {priority}"


__all__ = ["apply_realtime", "tight_timer_slack"]
