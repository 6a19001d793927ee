"""Leftovers of dora runs whose owner and guard were both killed, and their removal.

A run's temporary directory (``<tmp>/retriever-dora-*``) is removed by its owner at the
end, or by its guard process (:mod:`.guard`) when the owner dies. When both die at once
(``SIGKILL`` of a process group, the OOM killer, a machine that loses power), nobody is
left to remove it, nor the ``/dev/shm`` segments dora's transport left. So every run
writes an *owner record* into its directory (:data:`OWNER_FILE`: the run token, when it
was made, and the pid and start time of the owner and of the guard) and, before making
its own directory, removes every run directory whose recorded processes are all gone.

Why the start time: a pid alone can be reused by an unrelated process after the owner
died, which would make a dead run look alive forever; the pair (pid, start time) names
one process for the machine's uptime. A directory without a record (a run of an older
version, or one caught between making its directory and writing the record) is never
touched: nothing says it is dead.

Like :mod:`.guard`, this module imports nothing but the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from .guard import carriers, unlink_unused

OWNER_FILE = "owner.json"
PREFIX = "retriever-dora-"
SHM_DIR = "/dev/shm"
ZENOH_SUFFIX = ".zenoh"  # segments of dora's zenoh transport


def start_time(pid: int) -> str | None:
    """When process ``pid`` started, as an opaque token (field 22 of ``/proc/PID/stat``,
    in clock ticks since boot); None when there is no such process (or only a zombie).
    Without ``/proc`` (not Linux) an existing process gives ``"?"``: alive, start unknown."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None  # Linux: no such process
        return _exists(pid)
    except OSError:
        return _exists(pid)
    fields = stat.rsplit(") ", 1)[1].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):  # a zombie or a dying process: gone for our purpose
        return None
    return fields[19]


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # someone else's process: it exists
        return "?"
    return "?"


def record_owner(run_dir: Path, token: str, pids: list[int]) -> None:
    """Write the owner record of a run into its directory (atomically: a concurrent
    reader sees no record or the whole one)."""
    record = {"token": token, "created": time.time(),
              "processes": [[pid, start_time(pid)] for pid in pids]}
    part = run_dir / (OWNER_FILE + ".part")
    part.write_text(json.dumps(record))
    os.replace(part, run_dir / OWNER_FILE)


def read_owner(run_dir: str | Path) -> dict[str, Any] | None:
    """The owner record of ``run_dir``, or None when it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(run_dir) / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or not isinstance(record.get("token"), str)
            or not isinstance(record.get("processes"), list)):
        return None
    return record


def _alive(entry: Any) -> bool:
    """Whether the recorded ``[pid, start]`` still names a running process."""
    try:
        pid, then = int(entry[0]), entry[1]
    except (TypeError, ValueError, IndexError):
        return True  # a record we do not understand: never treat it as dead
    now = start_time(pid)
    if now is None:
        return False
    return now == then or "?" in (now, then) or then is None


def owner_alive(record: dict[str, Any]) -> bool:
    """Whether any process recorded as owning the run (owner or guard) still runs."""
    return any(_alive(entry) for entry in record["processes"])


def remove_stale(env_key: str, root: str | None = None,
                 shm_dir: str = SHM_DIR) -> list[str]:
    """Remove the run directories under ``root`` (the temp directory by default) whose
    owner and guard are both gone: first ``SIGKILL`` any process still carrying the dead
    run's token, then the directory, then the zenoh segments in ``shm_dir`` made since
    that run began that no process has open or mapped. Returns the directories removed."""
    base = root or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    since: float | None = None
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        record = read_owner(entry.path)
        if record is None or owner_alive(record):
            continue
        _kill(carriers(env_key, record["token"]))
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
        created = record.get("created")
        if isinstance(created, (int, float)):
            since = created if since is None else min(since, created)
    if since is not None:
        remove_unused_segments(shm_dir, since - 1.0)
    return removed


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue  # gone meanwhile, or not ours
    deadline = time.monotonic() + 2.0  # their mappings go with them: wait for that
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if start_time(p) is not None]
        if pids:
            time.sleep(0.01)


def remove_unused_segments(shm_dir: str, since: float) -> list[str]:
    """Unlink this user's zenoh segments in ``shm_dir`` created after ``since`` (wall
    clock) that no process has open or mapped: dora's transport never removes them, and
    a segment in use by a live run is always open or mapped by one of its processes."""
    me = os.getuid() if hasattr(os, "getuid") else None
    candidates: set[str] = set()
    try:
        names = os.listdir(shm_dir)
    except OSError:
        return []
    for name in names:
        if not name.endswith(ZENOH_SUFFIX):
            continue
        path = os.path.join(shm_dir, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_ctime >= since and (me is None or st.st_uid == me):
            candidates.add(path)
    return unlink_unused(candidates)
