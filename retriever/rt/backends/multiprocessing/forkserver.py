"""The ``forkserver`` start method: one fresh interpreter per run that forks the workers.

``spawn`` pays, in every worker, for a new interpreter importing Python, numpy, pydantic,
retriever and the user's modules and re-reading the execution graph: about half a second
of CPU each, so two hundred flows in twenty workers need seconds on two cores. A *fork
server* pays it once. The parent spawns one interpreter exactly as it would spawn a
worker (same inherited descriptors: only its own link and the death pipe's read end; the
same boot message, with the same grants from :func:`.start.vetted`, docs/trust.md). It
rebuilds the plan and resolves every flow class of the graph (which imports the flows'
modules under those grants and nothing else), then waits. For each partition the parent
sends a *fork request* carrying the worker's control socket and channel sockets as
``SCM_RIGHTS`` ancillary data; the server forks a child that runs :func:`.worker.worker_main`,
as a spawned worker would after its boot, and answers with the child's pid.

Why not fork the user's process itself (``fork``)? On macOS that process may have
started threads or Apple frameworks that do not survive ``fork``; the server is a fresh
interpreter that runs nothing but this module, on one thread, so forking it is safe.

The parent supervises the children as it does any worker (control socket, pid), kills
them by pid and asks the server to reap them (the server is their parent; only it can
``waitpid`` them), which returns the same wait status a direct child would give. A
restart is one more fork request. The server exits when its link to the parent closes
(end of run, or the parent died, even by ``SIGKILL``) or the death pipe reports end of
file, and it is reaped by the parent when the run closes. Nothing is pickled: requests
and replies are msgspec lists behind a 4-byte length.

If the server dies first (the OOM killer), the parent sees its link close and reaps it;
its workers run on as orphans whose exit status only init learns, and the next fork
request starts a new server (:class:`ForkServers`).
"""

from __future__ import annotations

import array
import gc
import logging
import multiprocessing.util
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from retriever.contract.errors import BackendError, RetrieverError
from retriever.contract.wire import decode, encode
from retriever.ir.resolve import check_graph, from_ir

from ...errors import ErrorRecord
from .plan import WaitOptions
from .proc import describe_exit, fork_worker, sigint_held
from .start import Boot, apply_boot, boot_message
from .worker import worker_main

log = logging.getLogger("retriever.mp")
_LEN = struct.Struct("<I")
_CHUNK = 200  # descriptors per sendmsg (Linux accepts at most 253 in one message)
_INT = array.array("i").itemsize
_ANC = socket.CMSG_SPACE(_CHUNK * _INT) if hasattr(socket, "CMSG_SPACE") else 0
_MAX_REQUEST = 1 << 30  # a boot message is bounded by MAX_CONTROL anyway
# as in start._BOOT: SIGINT ignored first (the parent coordinates Ctrl-C) and then
# unblocked (the parent held it while starting us); children inherit both
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "hasattr(signal, 'pthread_sigmask') and signal.pthread_sigmask(signal.SIG_UNBLOCK, "
    "[signal.SIGINT]); import sys; "
    "from retriever.rt.backends.multiprocessing.forkserver import server_main; "
    "sys.exit(server_main(int(sys.argv[1])))"
)


# ---------------------------------------------------------------------- the link

def _send(sock: socket.socket, msg: list[Any], fds: Sequence[int] = ()) -> None:
    """One message, with ``fds`` as ancillary data (in chunks after the first one)."""
    data = encode(msg)
    payload = _LEN.pack(len(data)) + data
    first, rest = list(fds[:_CHUNK]), list(fds[_CHUNK:])
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", first))] if first else []
    sent = sock.sendmsg([payload], anc)
    if sent < len(payload):
        sock.sendall(payload[sent:])
    while rest:  # one marker byte carries each further chunk
        chunk, rest = rest[:_CHUNK], rest[_CHUNK:]
        sock.sendmsg([b"+"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", chunk))])


def _recv_some(sock: socket.socket, n: int, fds: list[int]) -> bytes:
    """Up to ``n`` bytes (b"" at end of file), adding any descriptors that came along."""
    data, anc, flags, _ = sock.recvmsg(n, _ANC)
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(raw[:len(raw) - len(raw) % _INT])
            fds.extend(got)
    if flags & getattr(socket, "MSG_CTRUNC", 0):
        _close_fds(fds)
        raise BackendError("descriptors sent to the fork server were truncated",
                           hint="report this as a bug of the multiprocessing backend")
    return data


def _recv_bytes(sock: socket.socket, fds: list[int] | None = None) -> bytes | None:
    """One message's bytes (None at end of file); descriptors sent with it are added to
    ``fds`` (when given: the server side)."""
    def read(n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = (sock.recv(n - len(buf)) if fds is None
                     else _recv_some(sock, n - len(buf), fds))
            if not chunk:
                return None
            buf += chunk
        return buf
    head = read(_LEN.size)
    if head is None:
        return None
    (size,) = _LEN.unpack(head)
    if size > _MAX_REQUEST:
        raise BackendError("the fork server's link carries a malformed message",
                           hint="report this as a bug of the multiprocessing backend")
    return read(size)


def _recv(sock: socket.socket, fds: list[int] | None = None) -> Any:
    """One decoded message (None at end of file)."""
    data = _recv_bytes(sock, fds)
    return None if data is None else decode(data)


def _more_fds(sock: socket.socket, fds: list[int], count: int) -> bool:
    """Receive the further chunks of a request with ``count`` descriptors in all."""
    while len(fds) < count:
        if not _recv_some(sock, 1, fds):
            return False
    return True


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:  # already closed
            pass


# ---------------------------------------------------------------------- parent side

class ForkServer:
    """The parent's handle on the fork server of one run (thread-safe: the monitor
    thread restarts and reaps workers while the caller's thread may start or stop)."""

    def __init__(self, graph_json: str, *, death_fd: int, shm_slots: int,
                 waiting: WaitOptions, portable: bool, trust: dict[str, Any]) -> None:
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        self._status: int | None = None
        self.pid = 0
        try:
            with sigint_held():
                self.pid = multiprocessing.util.spawnv_passfds(
                    os.fsencode(sys.executable),
                    [sys.executable, "-c", _BOOT, str(child.fileno())],
                    [child.fileno(), death_fd])
        except OSError as exc:  # out of memory or processes, say
            self.sock.close()
            raise BackendError(f"could not start a fork server: {exc}",
                               hint="start_method='spawn' starts each worker on its own"
                               ) from exc
        except BaseException:
            self.sock.close()
            raise
        finally:
            child.close()
        boot = boot_message(graph_json, "", {}, death_fd, shm_slots=shm_slots,
                            waiting=waiting, portable=portable, trust=trust)
        try:
            _send(self.sock, boot)
        except OSError as exc:
            self.close()
            raise self._gone(f"could not send it the run's graph ({exc}); it "
                             f"{self.ended()}") from None
        except BaseException:  # Ctrl-C: no server may be left unreaped
            self.close()
            raise

    @property
    def dead(self) -> bool:
        """Whether the server is known to be gone (its link closed, it was reaped)."""
        return self._status is not None

    def ended(self) -> str:
        """How the server ended, in words ("" while it runs)."""
        if self._status is None:
            return ""
        return describe_exit(self._status)

    def check(self) -> bool:
        """Whether the server died (its link reports end of file; it is reaped then).
        Never blocks: the monitor calls it when the link turns readable, which a reply
        meant for another thread's request may also cause."""
        with self._lock:
            if self._status is not None:
                return True
            try:
                if self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    return False  # a reply in flight: the asking thread reads it
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:  # reset by a peer that died: gone all the same
                pass
        self.close()
        return True

    def fork(self, part: str, ctl: socket.socket, socks: dict[int, socket.socket]) -> int:
        """Have the server fork the worker of ``part`` with these sockets; its pid."""
        fds = [ctl.fileno(), *(s.fileno() for s in socks.values())]
        reply = self._ask(["fork", part, list(socks), len(fds)], fds)
        if reply[0] == "failed":
            raise ErrorRecord.unpack(reply[1]).rebuild(f"fork server pid {self.pid}")
        return int(reply[1])

    def reap(self, pid: int) -> int | None:
        """Wait for worker ``pid`` (a child of the server) to exit; its ``waitpid``
        status, or None when nobody can tell: the server died first (its orphans are
        reaped by init) or never had that child."""
        if self._status is not None:
            return None
        try:
            reply = self._ask(["reap", pid])
        except BackendError:  # it died just now
            return None
        return None if int(reply[1]) < 0 else int(reply[1])

    def _ask(self, msg: list[Any], fds: Sequence[int] = ()) -> list[Any]:
        with self._lock:
            if self.sock.fileno() < 0:
                raise self._gone("the run has ended" if self._status is None else "")
            try:
                _send(self.sock, msg, fds)
                reply = _recv(self.sock)
            except OSError:  # the link broke
                reply = None
        if isinstance(reply, list) and len(reply) == 2:
            return reply
        self.close()  # the server is gone (or useless): reap it, then say how it ended
        raise self._gone("" if reply is None else "it answered nonsense")

    def _gone(self, why: str) -> BackendError:
        why = why or (f"it {self.ended()}" if self._status is not None else "its link closed")
        return BackendError(f"the fork server of this run (pid {self.pid}) cannot start "
                            f"workers: {why}",
                            hint="see the output above for its error; "
                                 "start_method='spawn' starts each worker on its own")

    def close(self, timeout: float = 5.0) -> None:
        """Close the link (the server exits) and reap the server."""
        with self._lock:
            self.sock.close()
            if self._status is not None:
                return
            deadline = time.monotonic() + timeout
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self._status = status
                    return
                if time.monotonic() >= deadline:  # stuck: it holds no state of ours
                    os.kill(self.pid, signal.SIGKILL)
                    _, self._status = os.waitpid(self.pid, 0)
                    return
                time.sleep(0.005)


class ForkServers:
    """The fork servers of one run: the one in use, and any that died before it.

    A server may die in the middle of a run (the OOM killer picks it, say). Its workers
    keep running, since they watch the parent and not the server, but they are orphans
    now: their exit status goes to init, so the parent can only tell whether they
    finished (see :meth:`ForkServer.reap`). The run goes on; a new server is started
    only when a worker must be started again (a restart), at most once per request: if
    that one cannot start or boot either, the request fails with one error naming the
    partition and both causes."""

    def __init__(self, start: Callable[[], ForkServer]) -> None:
        self._start = start
        self.current = start()
        self.all = [self.current]
        self._noticed: set[int] = set()

    def fork(self, part: str, ctl: socket.socket, socks: dict[int, socket.socket]
             ) -> tuple[int, ForkServer]:
        """Fork the worker of ``part``; its pid and the server that is its parent."""
        server = self.current
        if not server.dead:
            try:
                return server.fork(part, ctl, socks), server
            except RetrieverError:
                if not server.dead:
                    raise  # it refused (its boot failed, say): a new one would too
        self._notice(server)
        cause = f"its fork server (pid {server.pid}) {server.ended()}"
        try:
            new = self._start()
        except RetrieverError as exc:
            raise _no_server(part, cause, exc) from exc
        self.all.append(new)
        self.current = new
        try:
            return new.fork(part, ctl, socks), new
        except RetrieverError as exc:
            new.close()
            raise _no_server(part, cause, exc) from exc

    def watch(self) -> list[socket.socket]:
        """The link to wait on: it turns readable when the current server dies."""
        return [] if self.current.dead else [self.current.sock]

    def check(self) -> None:
        """Call when :meth:`watch`'s link is readable: notices (and reaps) a dead server."""
        if self.current.check():
            self._notice(self.current)

    def _notice(self, server: ForkServer) -> None:
        if server.pid not in self._noticed:
            self._noticed.add(server.pid)
            log.warning("the fork server of this run (pid %d) %s; its workers keep "
                        "running, and a new server starts if a worker must be started "
                        "again", server.pid, server.ended())

    def sockets(self) -> list[socket.socket]:
        """Every server's link (closed in workers of other runs)."""
        return [s.sock for s in self.all]

    def close(self) -> None:
        """Close every link and reap every server."""
        for server in self.all:
            server.close()


def _no_server(part: str, cause: str, exc: BaseException) -> BackendError:
    return BackendError(
        f"partition {part!r} needs a new worker process, but {cause} and a new fork "
        f"server could not start one: {exc}",
        hint="see the output above for why the servers failed (memory or process "
             "limits?); start_method='spawn' starts each worker on its own")


def orphan_exit(server: ForkServer, done: bool) -> str:
    """How a worker whose fork server died before it ended, in words."""
    how = "exited after finishing" if done else "ended without finishing"
    return (f"{how}; its exit status is unknown: its fork server "
            f"(pid {server.pid}) {server.ended() or 'could not reap it'} before it")


# ---------------------------------------------------------------------- server side

def _prepare(data: bytes) -> Boot:
    """Apply the boot message and resolve every name of the graph (importing the flows'
    modules under the grants the boot gave, docs/trust.md), once for every worker."""
    boot = apply_boot(data)
    if boot is None:
        raise BackendError("the fork server received no valid boot message")
    with from_ir():
        check_graph(boot.plan.graph.ir.nodes)
    return boot


def server_main(fd: int) -> int:
    """Entry point of the fork server; returns its exit code."""
    try:
        return _serve(socket.socket(fileno=fd))
    except (BrokenPipeError, ConnectionResetError):  # the run closed our link mid-reply
        return 0


def _serve(sock: socket.socket) -> int:
    sock.setblocking(True)
    data = _recv_bytes(sock)
    if data is None:
        return 3  # the parent went away before booting us
    boot: Boot | None = None
    failure: dict[str, Any] | None = None
    try:
        boot = _prepare(data)
    except Exception as exc:  # reported to the parent at its first fork request
        failure = ErrorRecord.of(exc).pack()
    gc.freeze()  # what is built now stays shared with the children (no copy on write)
    # poll, not select(): inherited descriptors keep the parent's numbers, maybe > 1023
    watch = select.poll()
    watch.register(sock, select.POLLIN)
    if boot is not None:
        watch.register(boot.death_fd, select.POLLIN)
    while True:
        ready = {fd for fd, _ in watch.poll()}
        if boot is not None and boot.death_fd in ready and not os.read(boot.death_fd, 1):
            return 0  # the parent is gone
        if sock.fileno() not in ready:
            continue
        fds: list[int] = []
        msg = _recv(sock, fds)
        if msg is None:
            return 0  # the run closed our link (or the parent is gone)
        if msg[0] == "fork":
            if not _more_fds(sock, fds, int(msg[3])):
                _close_fds(fds)
                return 0
            if boot is None or len(fds) != len(msg[2]) + 1:
                _close_fds(fds)
                _send(sock, ["failed", failure or ErrorRecord.of(BackendError(
                    f"a fork request came with {len(fds)} descriptors for "
                    f"{len(msg[2])} channels")).pack()])
                continue
            try:
                pid = _fork(boot, sock, str(msg[1]), [int(i) for i in msg[2]], fds)
            except OSError as exc:  # no memory or processes left: the parent decides
                _send(sock, ["failed", ErrorRecord.of(BackendError(
                    f"the fork server could not fork the worker of partition "
                    f"{msg[1]!r}: {exc}")).pack()])
                continue
            _send(sock, ["forked", pid])
        elif msg[0] == "reap":
            _close_fds(fds)
            try:
                _, status = os.waitpid(int(msg[1]), 0)
            except ChildProcessError:
                status = -1
            _send(sock, ["reaped", status])


def _fork(boot: Boot, link: socket.socket, part: str, chans: list[int], fds: list[int]
          ) -> int:
    """Fork the worker of ``part``; ``fds``: its control socket, then its channels."""
    def target() -> int:
        link.close()  # only the server talks to the parent about forks
        ctl = socket.socket(fileno=fds[0])
        socks = {idx: socket.socket(fileno=fd) for idx, fd in zip(chans, fds[1:], strict=True)}
        return worker_main(boot.plan, part, ctl, socks, boot.death_fd,
                           shm_slots=boot.shm_slots, waiting=boot.waiting)
    try:
        return fork_worker(target, (), ())
    finally:
        _close_fds(fds)  # the child has them; later children must not
