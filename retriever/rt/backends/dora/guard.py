"""A tiny watchdog process that cleans up a dora run whose owner died.

The owner of a dora run starts this file as a separate process (``python -I -S
guard.py TMPDIR ENV_KEY TOKEN``) with a pipe on its standard input; only the owner
holds the pipe's write end. Two endings:

- the owner writes ``done`` before closing the pipe: the run ended normally and was
  cleaned up by the owner; the guard just exits;
- the pipe reports end of file without ``done``: the owner died (``SIGKILL``, a crash,
  ``os._exit``). The guard then sends ``SIGTERM`` to every process carrying the run
  token in its environment: ``dora run`` and dora's daemons stop the dataflow (each node
  gets dora's ``STOP``), and a node takes ``SIGTERM`` as a stop request, so every node
  finalizes its flows and exits. Whatever is still there ``GRACE`` seconds later gets
  ``SIGKILL``; then the run's temporary directory is removed, and so are the
  ``/dev/shm`` segments the run's processes used that nobody uses any more (dora's
  transport does not remove them itself).

Why a process rather than ``PR_SET_PDEATHSIG`` on each dora process: Linux delivers that
signal when the *thread* that started the child exits, so a run started from a worker
thread that returns was killed at once. A pipe closes only when the whole owner process
is gone, on any Unix.

The file imports nothing but the standard library, so it starts in a few milliseconds
with ``-I -S`` and does not depend on the owner's import path.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time

GRACE = 5.0  # seconds the nodes have to finalize their flows before SIGKILL
SHM = "/dev/shm/"


def carriers(env_key: str, token: str) -> list[int]:
    """PIDs of processes whose environment holds ``env_key=token`` (never this one)."""
    needle = f"{env_key}={token}".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                data = fh.read()
        except OSError:
            continue  # gone already, or another user's process
        if needle in data.split(b"\0"):
            found.append(int(name))
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            continue  # exited meanwhile, or not ours


def is_run_dir(path: str) -> bool:
    """Whether ``path`` looks like a dora run directory (never delete anything else)."""
    real = os.path.realpath(path)
    return (os.path.dirname(real) == os.path.realpath(tempfile.gettempdir())
            and os.path.basename(real).startswith("retriever-dora-"))


def mapped_or_open(pid: int | str) -> list[str]:
    """The files that process ``pid`` has mapped or open (per ``/proc``; empty when it
    is gone or another user's)."""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            maps = fh.read()
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []  # gone meanwhile, or another user's process
    found = []
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6:
            found.append(parts[5].removesuffix(" (deleted)"))
    for fd in fds:
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return found


def shm_files(pids: list[int]) -> set[str]:
    """The ``/dev/shm`` files that the processes ``pids`` have mapped or open."""
    return {path for pid in pids for path in mapped_or_open(pid) if path.startswith(SHM)}


def remove_orphans(paths: set[str], since: float) -> list[str]:
    """Unlink those of ``paths`` (``/dev/shm`` files a run's processes used) that were
    created after ``since`` (wall clock) and that no process has mapped or open any
    more: dora's transport leaves such segments behind when its processes end."""
    mine = set()
    for path in paths:
        try:
            if os.stat(path).st_ctime >= since:
                mine.add(path)
        except OSError:
            continue  # already gone
    return unlink_unused(mine)


def in_use(paths: set[str]) -> set[str]:
    """Those of ``paths`` that some process has open or mapped (per ``/proc``)."""
    busy: set[str] = set()
    try:
        procs = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return set(paths)  # cannot tell: treat everything as in use
    for pid in procs:
        busy.update(p for p in mapped_or_open(pid) if p in paths)
    return busy


def unlink_unused(paths: set[str]) -> list[str]:
    """Unlink those of ``paths`` that no process has open or mapped; returns them."""
    removed: list[str] = []
    for path in sorted(paths - in_use(paths)) if paths else []:
        try:
            os.unlink(path)
        except OSError:
            continue  # removed meanwhile
        removed.append(path)
    return removed


def clean_up(tmpdir: str, env_key: str, token: str, since: float) -> None:
    """End the run's processes (TERM, then KILL), then remove its directory and the
    shared memory they left."""
    pids = carriers(env_key, token)
    shm = shm_files(pids)
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        shm |= shm_files(pids)
        pids = carriers(env_key, token)
    _signal_all(pids, signal.SIGKILL)
    while pids and time.monotonic() < deadline + GRACE:
        time.sleep(0.05)
        pids = carriers(env_key, token)
    if is_run_dir(tmpdir):
        shutil.rmtree(tmpdir, ignore_errors=True)
    remove_orphans(shm, since)


def main(argv: list[str]) -> int:
    """Wait for the owner's pipe to close; clean up unless told the run ended."""
    if len(argv) != 3:
        print("usage: guard.py TMPDIR ENV_KEY TOKEN", file=sys.stderr)
        return 2
    tmpdir, env_key, token = argv
    since = time.time() - 1.0  # the run's processes start after this one
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides about Ctrl-C
    data = b""
    while True:
        try:
            chunk = os.read(0, 64)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    if b"done" in data:
        return 0
    clean_up(tmpdir, env_key, token, since)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
