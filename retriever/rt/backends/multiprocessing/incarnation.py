"""One incarnation of a partition's worker process, as the parent sees it: how it
was started, what it reported, how to reap it, and its counters."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from ...transport import ControlLink
from .forkserver import ForkServer

COUNTERS = ("steps", "lag_events", "skipped_ticks", "skipped_at_stop", "dropped", "errors")


class Incarnation:
    """One incarnation of a partition's worker process."""

    def __init__(self, part: str, pid: int, ctl: ControlLink,
                 popen: subprocess.Popen[bytes] | None = None,
                 server: ForkServer | None = None) -> None:
        self.part = part
        self.pid = pid
        self.ctl = ctl
        self.popen = popen  # loopback transport: started with subprocess
        self.server = server  # forkserver: the server is its parent and reaps it
        self.ready = False
        self.done = False
        self.error: BaseException | None = None
        self.stats: dict[str, dict[str, Any]] = {}
        self.exitcode: int | None = None
        self.stop_sent = False
        self.names: list[str] = []  # shared-memory names it created (framed channels)
        self.scheduling = ""  # realtime=: what the OS granted the worker, or why not


def reap(w: Incarnation) -> int | None:
    """Wait for ``w``'s process; its ``waitpid`` status (a return code for loopback
    workers; None when unknown: see :meth:`.ForkServer.reap`)."""
    if w.popen is not None:
        return w.popen.wait()
    if w.server is not None:
        return w.server.reap(w.pid)
    try:
        _, status = os.waitpid(w.pid, 0)
    except ChildProcessError:
        return 0
    return status


def add_rows(into: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> None:
    """Add one worker's per-flow counters (the latest waiting ports win)."""
    for flow, row in rows.items():
        base = into.setdefault(flow, {})
        for k, v in row.items():
            if k in COUNTERS:
                base[k] = base.get(k, 0) + int(v)
            else:
                base[k] = v
