"""Leak checks shared by the fault tests: what a run may leave behind, and how to see it.

A run must leave nothing: no child process (zombies included), no ``/dev/shm`` segment,
no memfd still open or mapped in this process, no temp directory, no dora process or
dataflow carrying this process's owner tag. :class:`Leaks` takes a snapshot before a
test and lists what is new afterwards (waiting a little for processes that are on their
way out).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def children(pid: int | None = None) -> set[int]:
    """Processes whose parent is ``pid`` (this process by default), zombies included."""
    me = str(pid or os.getpid())
    out: set[int] = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(") ", 1)[1].split()[1] == me:
                out.add(int(d.name))
    return out


def shm_entries() -> set[str]:
    """Entries of /dev/shm that a run could have created."""
    return {n for n in os.listdir("/dev/shm") if "retriever" in n or n.startswith("psm_")}


def orphaned_shm(names: set[str]) -> set[str]:
    """Those of the ``/dev/shm`` entries ``names`` that still exist while no process has
    them open or mapped: leaked (a live run of someone else holds its own)."""
    left = {n for n in names if os.path.exists(f"/dev/shm/{n}")}
    for d in Path("/proc").iterdir():
        if not left or not d.name.isdigit():
            continue
        try:
            maps = (d / "maps").read_text()
            targets = {os.readlink(fd) for fd in (d / "fd").iterdir()}
        except OSError:
            continue  # gone meanwhile, or not ours to read
        left = {n for n in left if f"/dev/shm/{n}" not in maps
                and f"/dev/shm/{n}" not in targets}
    return left


def temp_entries() -> set[str]:
    """Entries of the temp directory that a run could have created."""
    return {n for n in os.listdir(tempfile.gettempdir()) if "retriever" in n}


def memfds(pid: int | None = None) -> set[str]:
    """Open or mapped memfds of the process (their descriptor or mapping)."""
    base = Path(f"/proc/{pid or os.getpid()}")
    found: set[str] = set()
    for fd in (base / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/memfd:retriever"):
            found.add(f"fd {fd.name}: {target}")
    try:
        maps = (base / "maps").read_text()
    except OSError:
        maps = ""
    for line in maps.splitlines():
        if "/memfd:retriever" in line:
            found.add("mapped: " + line.split(None, 5)[-1])
    return found


def owner_tag(pid: int | None = None) -> str:
    """The tag every dora process of a run owned by ``pid`` carries."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def environ_has(pid: int, needle: bytes) -> bool:
    """Whether process ``pid``'s environment holds the entry ``needle``."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read().split(b"\0")
    except OSError:
        return False


def dora_processes(owner_pid: int | None = None) -> list[int]:
    """dora coordinators, daemons, ``dora run`` and nodes of runs owned by ``owner_pid``."""
    needle = f"RETRIEVER_DORA_OWNER={owner_tag(owner_pid)}".encode()
    me = os.getpid()
    return [int(e.name) for e in os.scandir("/proc")
            if e.name.isdigit() and int(e.name) != me and environ_has(int(e.name), needle)]


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds.

    Tests wait for the event they need (rows in a log, a process gone) instead of
    sleeping a fixed time: a slow or loaded machine then only makes them slower, and
    ``timeout`` is a generous bound for a hang, never the expected duration."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1].split()[0] != "Z"


@dataclass
class Leaks:
    """A snapshot of what exists now; :meth:`new` lists what a test added."""

    owner: int = field(default_factory=os.getpid)
    kids: set[int] = field(default_factory=children)
    shm: set[str] = field(default_factory=shm_entries)
    tmp: set[str] = field(default_factory=temp_entries)
    fds: set[str] = field(default_factory=memfds)

    def new(self, wait: float = 8.0) -> list[str]:
        """Everything left behind since the snapshot (empty when clean)."""
        deadline = time.monotonic() + wait
        while True:
            found = self._now()
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def _now(self) -> list[str]:
        found = [f"child process {p}" for p in children() - self.kids]
        found += [f"/dev/shm/{n}" for n in shm_entries() - self.shm]
        found += [f"temp entry {n}" for n in temp_entries() - self.tmp]
        found += [f"memfd {m}" for m in memfds() - self.fds]
        found += [f"dora process {p}" for p in dora_processes(self.owner)]
        return found

    def assert_clean(self, wait: float = 8.0) -> None:
        """Fail naming whatever was left behind."""
        left = self.new(wait)
        assert not left, f"left behind: {left}"
