"""How worker processes start: ``fork``, ``forkserver``, ``spawn``, and portable mode.

``fork`` (the Linux default) copies the parent: the worker starts in about a millisecond
with every module imported and receives the plan as objects in its copied memory.

``spawn`` starts a new Python interpreter per worker that inherits nothing but the
descriptors it is given (its control socket, its channel sockets and the read end of
the parent's death pipe). The parent sends it a *boot* message over the control socket,
msgspec-encoded like every control message: the execution graph as JSON, the partition
to run, which descriptor is which channel, the run options and the parent's
``sys.path``. The worker rebuilds the plan from the graph (the same deterministic
derivation the parent made) and resolves the flows' classes by name (``__main__``
classes are loaded from the script's file without running its main block). Nothing is
pickled. Each such worker pays for its imports (about half a second of CPU).

``forkserver`` (:mod:`.forkserver`; the default of portable mode where ``fork`` and
descriptor passing exist: macOS, Linux) spawns *one* interpreter per run the same way,
with the same boot message minus the partition, and has it fork every worker, each
receiving its sockets over ``SCM_RIGHTS``: the imports and the graph are paid once.

*Portable mode* (``portable=True`` or ``RETRIEVER_MP_PORTABLE=1``; chosen automatically
where Linux's services are missing, as on macOS) is what a platform without Linux's
extras gets: ``forkserver`` (``spawn`` where it cannot run), stream socket pairs
carrying length-prefixed frames instead of ``SOCK_SEQPACKET`` datagrams, with
shared-memory rings announced by name instead of passed as descriptors
(:mod:`retriever.rt.transport.framing`), POSIX shared memory instead of ``memfd``
(:mod:`retriever.rt.transport.backing`) and a ``selectors`` waiter instead of ``epoll``
(:mod:`retriever.rt.transport.wait`). Forcing it on Linux is how CI exercises those
code paths. Parent-death detection is the same in both modes: a
pipe whose only writer is the parent (no ``PR_SET_PDEATHSIG``).

*Loopback transport* (Windows, or ``RETRIEVER_MP_TRANSPORT=loopback`` on Linux, which
is how it is tested): portable mode in which the worker inherits no descriptor at all.
It is started with :mod:`subprocess` and connects back to the parent over TCP on
``127.0.0.1`` (:mod:`retriever.rt.transport.rendezvous`): its control link, a watch
link whose end of file says the parent is gone, and one connection per channel between
workers. Its waiter is a ``selectors`` selector over sockets only. Restarting a
partition is not available in this transport (its peers' connections would have to be
replaced): :func:`resolve` callers refuse restart policies up front.
"""

from __future__ import annotations

import multiprocessing.util
import os
import re
import select
import socket
import sys
from dataclasses import dataclass
from typing import Any

from retriever.contract.errors import BackendError, ConfigError
from retriever.contract.wire import decode
from retriever.ir.model import ExecutionGraph
from retriever.ir.resolve import allow_imports, allow_source_exec, granted, idents_in_init

from ...transport import ControlLink, backing, rendezvous, wait
from ...transport.control import MAX_CONTROL
from ...transport.framing import is_stream, read_frame, seqpacket_available
from .plan import Plan, WaitOptions, make_plan
from .proc import sigint_held
from .worker import worker_main

METHODS = ("fork", "forkserver", "spawn")
START_ENV = "RETRIEVER_MP_START_METHOD"
PORTABLE_ENV = backing.PORTABLE_ENV
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
# SIGINT is ignored first thing: the parent coordinates Ctrl-C, and a worker still
# importing must not die of it with a traceback. The worker starts with SIGINT blocked
# (proc.sigint_held), so one sent before this line waits and is then discarded.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "hasattr(signal, 'pthread_sigmask') and signal.pthread_sigmask(signal.SIG_UNBLOCK, "
    "[signal.SIGINT]); import sys; "
    "from retriever.rt.backends.multiprocessing.start import spawned_main; "
    "sys.exit(spawned_main(int(sys.argv[1])))"
)


@dataclass(frozen=True)
class StartOptions:
    """The start method and the platform services of one run."""

    method: str = "fork"
    portable: bool = False
    loopback: bool = False  # connections made after start (no inherited descriptor)

    @property
    def framed(self) -> bool:
        """Whether channels and control links are stream sockets carrying frames, with
        rings announced by name (:mod:`retriever.rt.transport.framing`)."""
        return self.portable or not seqpacket_available()

    @property
    def shm(self) -> str:
        """Backing of shared-memory rings (``memfd`` or ``posix``)."""
        return "posix" if self.framed else backing.default_kind(self.portable)

    @property
    def waiter(self) -> str:
        """Kind of waiter the workers block in (see :mod:`retriever.rt.transport.wait`):
        a ``selectors`` selector with the loopback transport, whose every waited-on
        object is a socket (all Windows' ``select`` accepts)."""
        return "selectors" if self.loopback else wait.default_kind(self.portable)


def platform_method() -> str:
    """``fork`` on Linux; ``spawn`` where ``fork`` is missing or unsafe (macOS, Windows)."""
    return "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "spawn"


def forkserver_missing() -> str:
    """Why this system cannot run a fork server (:mod:`.forkserver`), "" when it can: it
    needs ``fork``, ``poll``, Unix sockets and descriptor passing (``sendmsg``/``recvmsg`` with
    ``SCM_RIGHTS``), which Linux, macOS and the BSDs have and Windows has not."""
    missing = [name for mod, name in ((os, "fork"), (select, "poll"), (socket, "AF_UNIX"),
                                      (socket.socket, "sendmsg"), (socket.socket, "recvmsg"),
                                      (socket, "SCM_RIGHTS"), (socket, "CMSG_SPACE"))
               if not hasattr(mod, name)]
    return f"this system lacks {', '.join(missing)}" if missing else ""


def missing_native() -> list[str]:
    """The Linux services of the native mode that this system lacks (macOS: all three);
    where any is missing, portable mode is chosen automatically."""
    missing = [] if seqpacket_available() else ["SOCK_SEQPACKET"]
    if not hasattr(os, "memfd_create"):
        missing.append("memfd")
    if not hasattr(select, "epoll"):
        missing.append("epoll")
    return missing


def resolve(start_method: Any = None, portable: Any = None) -> StartOptions:
    """Validate the run options ``start_method`` and ``portable``, falling back to the
    environment (``RETRIEVER_MP_START_METHOD``, ``RETRIEVER_MP_PORTABLE``) and then to
    the platform's default: portable mode where Linux's services are missing (macOS),
    native elsewhere. Portable mode implies ``forkserver`` unless a method is named
    (``spawn`` where a fork server cannot run, and with the loopback transport)."""
    loopback = rendezvous.transport() == "loopback"
    where = "portable"
    if portable is None:
        raw = os.environ.get(PORTABLE_ENV, "").strip().lower()
        if raw not in _TRUE + _FALSE:
            raise ConfigError(f"{PORTABLE_ENV}={raw!r} is not a yes/no value",
                              hint=f"set {PORTABLE_ENV}=1 to force portable mode, or unset it")
        portable = (raw in _TRUE) if raw else None
        where = PORTABLE_ENV
    if portable is not None and not isinstance(portable, bool):
        raise ConfigError(f"portable={portable!r} is not True or False")
    missing = missing_native()
    if loopback and portable is False:
        raise ConfigError(f"{where}=False asks for the native mode, but the loopback "
                          f"transport ({rendezvous.TRANSPORT_ENV}) runs only in portable mode",
                          hint="leave it unset")
    if portable is None:
        portable = bool(missing) or loopback
    elif not portable and missing:
        raise ConfigError(f"{where}=False asks for the native mode, but this system lacks "
                          f"{', '.join(missing)}",
                          hint="leave it unset: portable mode is chosen here automatically")
    where = "start_method"
    if start_method is None:
        start_method = os.environ.get(START_ENV) or None
        where = START_ENV
    if start_method is None:
        if not portable:
            start_method = platform_method()
        else:
            start_method = "spawn" if loopback or forkserver_missing() else "forkserver"
    if start_method not in METHODS:
        raise ConfigError(f"{where}={start_method!r} is not a start method of the "
                          f"multiprocessing backend",
                          hint=f"use one of {', '.join(METHODS)}")
    if start_method == "fork" and not hasattr(os, "fork"):
        raise ConfigError("start_method='fork' is not available on this platform",
                          hint="use start_method='spawn'")
    if start_method == "forkserver" and forkserver_missing():
        raise ConfigError(f"start_method='forkserver' is not available here: "
                          f"{forkserver_missing()}", hint="use start_method='spawn'")
    if start_method in ("fork", "forkserver") and loopback:
        raise ConfigError(f"start_method={start_method!r} does not go with the loopback "
                          f"transport ({rendezvous.TRANSPORT_ENV}=loopback)",
                          hint="use start_method='spawn'")
    return StartOptions(start_method, portable, loopback)


# ---------------------------------------------------------------------- spawn: parent side

def spawn_worker(graph_json: str, part: str, link: ControlLink, ctl_sock: socket.socket,
                 socks: dict[int, socket.socket], death_fd: int, *, shm_slots: int,
                 waiting: WaitOptions, portable: bool, trust: dict[str, Any]) -> int:
    """Start a fresh interpreter running partition ``part``; returns its pid.

    The child inherits only ``ctl_sock`` (its end of the control link), its channel
    sockets and the death pipe; the rest of its instructions follow as one boot
    message that the parent sends on ``link`` (the parent's end), with what it may
    import (``trust``, from :func:`vetted`).
    """
    boot = boot_message(graph_json, part, {idx: s.fileno() for idx, s in socks.items()},
                        death_fd, shm_slots=shm_slots, waiting=waiting, portable=portable,
                        trust=trust)
    fds = [ctl_sock.fileno(), death_fd, *(s.fileno() for s in socks.values())]
    with sigint_held():
        pid = multiprocessing.util.spawnv_passfds(
            os.fsencode(sys.executable),
            [sys.executable, "-c", _BOOT, str(ctl_sock.fileno())], fds)
    if not link.send(*boot) or link.closed:
        raise BackendError(f"could not hand partition {part!r} to its spawned worker "
                           f"(pid {pid}): the boot message ({len(graph_json)} bytes of "
                           f"graph) was refused by the control socket",
                           hint="use start_method='fork', or keep large data out of "
                                "flows' constructor arguments")
    return pid


_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def vetted(graph: ExecutionGraph) -> dict[str, Any]:
    """What a spawned worker may import to rebuild ``graph``: exactly what this process
    (which resolved and checked every name before starting, docs/trust.md) could.

    A forked worker inherits the parent's imported modules; a spawned one is granted the
    modules the graph names that are imported here, the scripts of its ``__main__``
    flows (resolved here from the running script or an explicit grant), and this
    process's own grants. The boot message travels over a private socket pair, never
    through a file."""
    modules: set[str] = set()
    sources: set[str] = set()
    for node in graph.ir.nodes:
        names = [node.flow, *idents_in_init(node.init)]
        names += [e.cls for side in (node.inputs, node.outputs) for e in side.elements
                  if e.cls]
        names += [s for s in _strings(node.init) if _NAME.match(s)]  # e.g. worker functions
        for name in names:
            module = name.split(":", 1)[0]
            if module in ("__main__", "__retriever_main__"):
                if node.source_file:
                    sources.add(node.source_file)
            elif module in sys.modules:
                modules.add(module)
    any_module, packages, files = granted()
    return {"any": any_module, "imports": sorted(modules | set(packages)),
            "sources": sorted(sources | set(files))}


def check_boot_size(graph_json: str) -> None:
    """Fail early when the graph is too large for one boot message."""
    if len(graph_json) > MAX_CONTROL - 64 * 1024:
        raise BackendError(
            f"the execution graph is {len(graph_json)} bytes, too large to hand to a "
            f"spawned worker", hint="use start_method='fork', or keep large data out of "
                                    "flows' constructor arguments")


# ---------------------------------------------------------------------- spawn: child side

def boot_message(graph_json: str, part: str, chans: dict[int, int], death_fd: int, *,
                 shm_slots: int, waiting: WaitOptions, portable: bool,
                 trust: dict[str, Any]) -> list[Any]:
    """What a spawned worker needs to know (``chans``: channel index -> inherited
    descriptor, empty when the worker connects its channels itself)."""
    return ["boot", graph_json, part, {str(idx): fd for idx, fd in chans.items()},
            death_fd, shm_slots, waiting.spin, waiting.busy_poll, waiting.waiter, portable,
            waiting.spin_arrivals, [p for p in sys.path if isinstance(p, str)], trust,
            waiting.realtime]


@dataclass
class Boot:
    """A boot message, applied: the plan rebuilt, imports granted."""

    plan: Plan
    part: str
    chans: dict[int, int]
    death_fd: int
    shm_slots: int
    waiting: WaitOptions


def apply_boot(data: bytes | None) -> Boot | None:
    """Decode a boot message and prepare this process as it says (import path, grants,
    shared-memory backing); None when the parent went away before booting us."""
    if not data:
        return None
    msg: Any = decode(data)
    if not isinstance(msg, list) or len(msg) != 14 or msg[0] != "boot":
        raise BackendError("a spawned worker received no valid boot message")
    (_, graph_json, part, chans, death_fd, shm_slots, spin, busy_poll, waiter, portable,
     spin_arrivals, path, trust, realtime) = msg
    for entry in reversed(path):  # the parent's import path, so flows resolve the same
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if trust["any"]:
        allow_imports(True)
    allow_imports(trust["imports"])
    allow_source_exec(trust["sources"])
    backing.configure(bool(portable))
    plan = make_plan(ExecutionGraph.from_json(graph_json))
    return Boot(plan, str(part), {int(idx): int(fd) for idx, fd in chans.items()},
                int(death_fd), int(shm_slots),
                WaitOptions(float(spin), bool(busy_poll), str(waiter), float(spin_arrivals),
                            int(realtime)))


def spawned_main(ctl_fd: int) -> int:
    """Entry point of a spawned worker: read the boot message, then run as a forked
    worker would. Returns the process exit code."""
    ctl_sock = socket.socket(fileno=ctl_fd)
    ctl_sock.setblocking(True)
    # exactly the boot message: a stop request may already follow it on a stream
    boot = apply_boot(read_frame(ctl_sock) if is_stream(ctl_sock)
                      else ctl_sock.recv(MAX_CONTROL))
    if boot is None:
        return 3  # the parent went away before booting us
    socks = {idx: socket.socket(fileno=fd) for idx, fd in boot.chans.items()}
    return worker_main(boot.plan, boot.part, ctl_sock, socks, boot.death_fd,
                       shm_slots=boot.shm_slots, waiting=boot.waiting)
