"""Where shared-memory rings get their memory: ``memfd`` on Linux, POSIX shm elsewhere.

A ring needs one file descriptor that can be mapped and sent to the consumer over a
Unix socket. Two ways to get one:

- ``memfd``: an anonymous file (Linux). It never has a name, so nothing can be left
  behind in ``/dev/shm`` whatever happens to the processes.
- ``posix``: ``shm_open`` with a fresh name, sized, then ``shm_unlink`` at once, before
  the descriptor is mapped or sent anywhere. Only the creating process ever needs the
  name (the consumer receives the descriptor itself), so the segment is nameless
  microseconds after it was created and the kernel frees it with the last mapping,
  exactly like a memfd. This exists on macOS and every POSIX system.
- ``named`` (:func:`create_named`): the same segment keeping its name until the consumer
  opened it, for channels that announce rings by name instead of passing descriptors
  (framed channels, :mod:`.framing`). The stdlib's
  ``multiprocessing.shared_memory`` is deliberately not used: it registers each segment
  with a resource-tracker process (one more process per worker, and warnings or a second
  unlink at exit for segments that were already unlinked).

The process-wide choice defaults to ``memfd`` where it exists, unless portable mode is
on (``RETRIEVER_MP_PORTABLE=1``, or :func:`configure` called by a worker started with
``portable=True``).
"""

from __future__ import annotations

import importlib
import itertools
import os
from collections.abc import Callable
from typing import Protocol, cast

from retriever.contract.errors import BackendError

PORTABLE_ENV = "RETRIEVER_MP_PORTABLE"
KINDS = ("memfd", "posix")
_NAME_PREFIX = "/retriever-"
SHM_DIR = "/dev/shm"


class _ShmModule(Protocol):
    """The part of CPython's ``_posixshmem`` used here (it has no type stubs)."""

    def shm_open(self, path: str, flags: int, mode: int = 0o777) -> int:
        """Open or create a named segment; returns a descriptor."""
        ...

    def shm_unlink(self, path: str) -> None:
        """Remove a segment's name."""
        ...


def env_portable() -> bool:
    """Whether ``RETRIEVER_MP_PORTABLE`` asks for portable mode (``1``/``true``/``yes``)."""
    return os.environ.get(PORTABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def default_kind(portable: bool) -> str:
    """``memfd`` where it exists and portable mode is off, else ``posix``."""
    return "memfd" if hasattr(os, "memfd_create") and not portable else "posix"


_chosen: str | None = None  # set by configure(); else the environment decides
_serial = itertools.count(1)


def configure(portable: bool | None) -> None:
    """Choose the backing of rings created from now on in this process (``None``: let
    ``RETRIEVER_MP_PORTABLE`` decide again)."""
    global _chosen
    _chosen = None if portable is None else default_kind(portable)


def kind() -> str:
    """The backing used for new rings (``memfd`` or ``posix``)."""
    return _chosen or default_kind(env_portable())


def _posixshmem() -> _ShmModule:
    try:
        return cast(_ShmModule, importlib.import_module("_posixshmem"))
    except ImportError:
        raise BackendError("POSIX shared memory (shm_open) is not available here",
                           hint="the multiprocessing backend needs memfd or shm_open; "
                                "use backend='in-process' on this platform") from None


def _name_prefix(pid: int) -> str:
    return f"{_NAME_PREFIX}{pid:x}-"


def sweep(pid: int) -> list[str]:
    """Remove names left by process ``pid`` if it was killed in the microseconds between
    ``shm_open`` and ``shm_unlink`` (called by the parent when a worker died). Only
    where segments are listed as files (``/dev/shm`` on Linux); returns the names
    removed."""
    if not os.path.isdir(SHM_DIR):
        return []
    prefix = _name_prefix(pid)[1:]
    removed: list[str] = []
    for entry in os.listdir(SHM_DIR):
        if entry.startswith(prefix):
            try:
                _posixshmem().shm_unlink("/" + entry)
            except FileNotFoundError:  # removed meanwhile
                continue
            removed.append(entry)
    return removed


#: Told each name :func:`create_named` makes, before anyone else can see it (a worker
#: reports it to its parent, which removes it if the worker is killed).
on_named: Callable[[str], object] | None = None


def create_named(size: int) -> tuple[int, str]:
    """A new POSIX segment of ``size`` bytes that keeps its name, for a consumer that
    cannot receive descriptors (framed channels, :mod:`.framing`): returns the
    descriptor and the name. Whoever opens it last removes the name
    (:func:`open_named`); :func:`unlink` and :func:`sweep` clean up otherwise."""
    shm = _posixshmem()
    name = f"{_name_prefix(os.getpid())}{next(_serial):x}"
    fd = shm.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        if on_named is not None:
            on_named(name)
        os.set_inheritable(fd, False)
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        unlink(name)
        raise
    return fd, name


def open_named(name: str) -> int:
    """Open the segment ``name`` made by :func:`create_named` and remove its name (the
    caller is the last process to need it); -1 when the name is already gone."""
    shm = _posixshmem()
    try:
        fd = shm.shm_open(name, os.O_RDWR, 0o600)
    except FileNotFoundError:
        return -1
    unlink(name)
    os.set_inheritable(fd, False)
    return fd


def unlink(name: str) -> None:
    """Remove the name of a segment, if it still has it."""
    try:
        _posixshmem().shm_unlink(name)
    except FileNotFoundError:  # its consumer removed it already
        pass


def create(label: str, size: int) -> int:
    """A new shared-memory descriptor of ``size`` bytes with no name left anywhere."""
    if kind() == "memfd":
        fd = os.memfd_create(f"retriever-{label}", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        return fd
    shm = _posixshmem()
    # short names: macOS allows 31 characters
    name = f"{_name_prefix(os.getpid())}{next(_serial):x}"
    fd = shm.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        shm.shm_unlink(name)  # nameless from here on: nothing can be left behind
        os.set_inheritable(fd, False)
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd
