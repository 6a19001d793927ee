"""Starting worker processes with ``fork`` and keeping them from outliving their parent
(``spawn`` and portable mode: :mod:`.start`).

Why ``fork``: a forked worker starts in about a millisecond with every module (and the
flows' classes) already imported, and it receives the run's plan as ordinary objects
in its copied memory, so nothing is pickled to start it. ``spawn`` (used where fork is
missing, and in portable mode) re-imports numpy and the user's modules in each worker
(hundreds of milliseconds); ours sends a msgspec boot message instead of pickling a
process object as the stdlib's would. The pitfalls of ``fork`` are handled here:

- only the forking thread survives in the child, so the child runs nothing but the
  worker loop and leaves with ``os._exit`` (no inherited ``atexit`` handlers, no
  flushing of the parent's stdio buffers, which are flushed before forking);
- descriptors of other workers and other runs are closed in the child, so end of file
  on a control socket really means that worker exited, and the death pipe's write end
  lives only in the parent;
- signal handlers are reset in the child (``SIGINT`` ignored: the parent coordinates
  Ctrl-C; ``SIGTERM`` stops the worker cleanly). ``SIGINT`` is blocked in the starting
  thread around the ``fork`` (and around starting a ``spawn``ed interpreter, see
  :func:`sigint_held`), so a Ctrl-C to the whole process group during a worker's first
  instructions, a restart's included, cannot kill the worker before it ignores ``SIGINT``.

Every worker watches the read end of a *death pipe* on a small thread: when the parent
dies, even by ``SIGKILL``, the pipe reports end of file and the worker stops itself
(finalizing its flows) and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol


class Inheritable(Protocol):
    """What a run exposes so that workers of other runs can close its descriptors."""

    def owned_sockets(self) -> Iterable[socket.socket]:
        """Every socket the run created."""
        ...

    def owned_fds(self) -> Iterable[int]:
        """Every raw descriptor the run created."""
        ...


_RUNS: weakref.WeakSet[Inheritable] = weakref.WeakSet()


def track(run: Inheritable) -> None:
    """Remember ``run`` so forked children close its descriptors."""
    _RUNS.add(run)


def untrack(run: Inheritable) -> None:
    """Forget ``run``."""
    _RUNS.discard(run)


def _close_inherited(keep_socks: set[int], keep_fds: set[int]) -> None:
    for run in list(_RUNS):
        for s in run.owned_sockets():
            if id(s) not in keep_socks and s.fileno() >= 0:
                s.close()
        for fd in run.owned_fds():
            if fd not in keep_fds:
                try:
                    os.close(fd)
                except OSError:  # already closed
                    pass


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Block ``SIGINT`` in the calling thread while a worker process is started.

    A new process inherits the signal mask (through ``fork`` and ``exec``), so a Ctrl-C
    that reaches the worker while it starts stays pending until the worker has made
    ``SIGINT`` ignored (its first instruction), which then discards it. Without this, a
    Ctrl-C at that moment killed the worker (a spawned interpreter has the default
    action until it runs its first line) and the run ended with a worker "killed by
    signal SIGINT" instead of a clean stop. The parent loses nothing: the signal goes
    to another thread, or to this one when the block ends. Where there are no signal
    masks (Windows) this does nothing."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    old = mask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


def fork_worker(target: Callable[[], int], keep_socks: Iterable[socket.socket],
                keep_fds: Iterable[int]) -> int:
    """Fork a child that runs ``target()`` and exits with its return code."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream: nothing to flush
            pass
    keep_s = {id(s) for s in keep_socks}
    keep_f = set(keep_fds)
    with sigint_held():
        pid = os.fork()
        if not pid:  # the child ignores SIGINT before its mask is restored below
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    if pid:
        return pid
    code = 1
    try:
        _close_inherited(keep_s, keep_f)
        code = target()
    except BaseException:  # last resort: the child must never return into the parent's code
        try:
            traceback.print_exc()
        finally:
            os._exit(1)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return 0  # pragma: no cover - unreachable


def describe_exit(status: int, popen: bool = False) -> str:
    """``status`` from ``waitpid`` (or a ``Popen`` return code, negative for a signal),
    in words."""
    if popen:
        if status >= 0:
            return f"exited with code {status}"
        sig = -status
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    else:
        return f"exited with code {os.WEXITSTATUS(status)}"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    return f"was killed by signal {name}"


# ---------------------------------------------------------------------- the parent's exit

_PREVIOUS_SIGTERM: Any = None


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds; atexit stops the runs cleanly


def install_sigterm() -> None:
    """Make SIGTERM a clean exit of the parent (flows finalized) unless the program
    handles it."""
    global _PREVIOUS_SIGTERM
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _PREVIOUS_SIGTERM = signal.signal(signal.SIGTERM, _on_sigterm)


PARENT_GONE_GRACE = 3.0  # seconds a worker whose parent died has to finalize


def watch_parent(death: int | socket.socket) -> None:
    """Runs on a daemon thread: the parent died when the death pipe (or, with the
    loopback transport, the watch connection) reports EOF."""
    while True:
        try:
            data = death.recv(1) if isinstance(death, socket.socket) else os.read(death, 1)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:
            break
    os.kill(os.getpid(), signal.SIGTERM)  # graceful stop: finalize every flow
    time.sleep(PARENT_GONE_GRACE)
    os._exit(3)
