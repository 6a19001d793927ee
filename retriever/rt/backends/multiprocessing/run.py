"""The parent side of a multiprocessing run: start, supervise, restart, stop, clean up.

A daemon monitor thread waits on the workers' control sockets. It starts the flows
together once every worker is ready, collects statistics, stops the run when a flow
fails, a worker dies (end of file on its control socket, seen at once) or the duration
is over, restarts a partition's process when its restart policy allows, and finally
closes every descriptor. Shared memory is anonymous (``memfd``, or POSIX shm unlinked
as soon as it is created, or, with framed channels, as soon as the consumer opened it);
the names a killed worker may have left are swept when it is reaped.
"""

from __future__ import annotations

import logging
import mmap
import os
import select
import signal
import socket
import threading
import time
from collections import deque
from typing import Any

from retriever.contract.errors import BackendError, FlowError, RetrieverError
from retriever.ir.model import ExecutionGraph

from ...errors import ErrorRecord
from ...handle import BackgroundRun
from ...options import count, seconds, unknown_options
from ...report import FlowStats
from ...transport import ControlLink, backing, channel_pair, control_pair, rendezvous
from ...transport.channel import arrival_counters, counter_words
from .forkserver import ForkServer, ForkServers, orphan_exit
from .incarnation import COUNTERS, Incarnation, add_rows, reap
from .loopback import start_all
from .plan import Plan, WaitOptions, busy_wait_defaults, make_plan, usable_cores
from .proc import describe_exit, fork_worker, install_sigterm, sigint_held, track, untrack
from .start import StartOptions, check_boot_size, resolve, spawn_worker, vetted
from .worker import worker_main

log = logging.getLogger("retriever.mp")
OPTIONS = ("shm_slots", "stop_timeout", "spin", "spin_arrivals", "busy_poll", "realtime",
           "start_method", "portable")


class MultiprocessingRun(BackgroundRun):
    """A run of an execution graph with one worker process per partition (forked or
    spawned, see :mod:`.start`)."""

    backend = "multiprocessing"

    def __init__(self, graph: ExecutionGraph, *, duration: float | None = None,
                 live: Any = None, shm_slots: int = 4, stop_timeout: float = 5.0,
                 spin: float | None = None, spin_arrivals: float | None = None,
                 busy_poll: bool = False, realtime: bool | int = False,
                 start_method: str | None = None, portable: bool | None = None,
                 **options: Any) -> None:
        # Every argument is checked before the first worker is started.
        unknown_options(options, OPTIONS, "multiprocessing")
        where = "multiprocessing run"
        self.duration = seconds(duration, "duration", where=where, none=True)
        self.shm_slots = count(shm_slots, "shm_slots", where=where)
        self.stop_timeout = seconds(stop_timeout, "stop_timeout", where=where) or 0.0
        self.start_options: StartOptions = resolve(start_method, portable)
        self.plan: Plan = make_plan(graph)
        loopback = self.start_options.loopback
        self._token = rendezvous.new_token() if loopback else b""
        self._ports: dict[str, int] = {}  # loopback: where each worker accepts channels
        self._graph_json = ""
        self._trust: dict[str, Any] = {}
        self._servers: ForkServers | None = None
        if self.start_options.method in ("spawn", "forkserver"):
            self._graph_json = graph.to_json(indent=None)
            check_boot_size(self._graph_json)
            self._trust = vetted(graph)
        super().__init__()
        # no busy-waiting by default when the workers outnumber the cores
        spin_d, arrivals_d = busy_wait_defaults(len(self.plan.partitions), usable_cores())
        self.waiting = WaitOptions.from_options(
            spin_d if spin is None else spin, busy_poll, self.start_options.waiter,
            arrivals_d if spin_arrivals is None else spin_arrivals, realtime)
        self.exit_timeout = max(10.0, self.stop_timeout * 2)
        self._stopping = False
        self._kill_at: float | None = None
        self._t0: float | None = None
        self._t_start = time.monotonic()
        self._base: dict[str, dict[str, Any]] = {}  # counters of finished incarnations
        self._restarts: dict[str, int] = {n: 0 for n in self.plan.owner}
        self._restart_times: dict[str, deque[float]] = {p: deque() for p in self.plan.partitions}
        self._procs: dict[str, Incarnation] = {}
        self._names: list[str] = []  # shared-memory names to remove at the end (framing)
        self._upstream: dict[str, set[str]] = {p: set() for p in self.plan.partitions}
        for ch in self.plan.channels:
            self._upstream[ch.dst].add(ch.src)
        self._socks: list[socket.socket] = []
        self._chan: dict[int, tuple[socket.socket, socket.socket]] = {}
        # arrival counters in memory that forked workers share (datagram channels)
        self._counters: mmap.mmap | None = None
        if (self.start_options.method == "fork" and not self.start_options.framed
                and self.plan.channels):
            self._counters = arrival_counters(len(self.plan.channels))
        for ch in self.plan.channels if not loopback else ():  # loopback: workers connect
            pair = channel_pair(self.start_options.framed)
            self._chan[ch.index] = pair
            self._socks.extend(pair)
        self._wake_r, self._wake_w = socket.socketpair()  # a TCP pair on Windows
        self._wake_w.setblocking(False)
        self._socks += [self._wake_r, self._wake_w]
        # the death pipe (loopback: each worker's watch connection instead, a socket)
        self._death_r, self._death_w = os.pipe() if not loopback else (-1, -1)
        self._fds_open = not loopback
        track(self)
        install_sigterm()
        try:
            if loopback:
                self._start_loopback()
            else:
                if self.start_options.method == "forkserver":
                    self._servers = ForkServers(self._new_server)
                for part in self.plan.partitions:
                    self._start(part)
        except BaseException:
            self._abort_start()
            raise
        self._thread = threading.Thread(target=self._monitor, daemon=True,
                                        name="retriever-mp-monitor")
        self._thread.start()

    # ------------------------------------------------------------------ descriptors
    def owned_sockets(self) -> list[socket.socket]:
        """Sockets of this run (closed in workers of other runs)."""
        servers = self._servers.sockets() if self._servers is not None else []
        return list(self._socks) + [p.ctl.sock for p in self._procs.values()] + servers

    def owned_fds(self) -> list[int]:
        """Raw descriptors of this run."""
        return [self._death_r, self._death_w] if self._fds_open else []

    # ------------------------------------------------------------------ workers
    def _new_server(self) -> ForkServer:
        return ForkServer(self._graph_json, death_fd=self._death_r, shm_slots=self.shm_slots,
                          waiting=self.waiting, portable=self.start_options.portable,
                          trust=self._trust)

    def _start(self, part: str) -> None:
        if self.start_options.loopback:  # a restart: its live peers accept it
            live = {p: self._ports.get(p, 0) for p, w in self._procs.items()
                    if p != part and not w.ctl.closed}
            self._start_loopback([part], live)
            return
        parent_end, child_end = control_pair(self.start_options.framed)
        socks: dict[int, socket.socket] = {}
        for ch in self.plan.channels:
            if ch.src == part:
                socks[ch.index] = self._chan[ch.index][0]
            elif ch.dst == part:
                socks[ch.index] = self._chan[ch.index][1]
        plan, slots, death, waiting = self.plan, self.shm_slots, self._death_r, self.waiting
        portable = self.start_options.portable
        if self._servers is not None:
            w: Incarnation | None = None
            try:  # Ctrl-C waits until the worker is known: _abort_start stops it
                with sigint_held():
                    pid, server = self._servers.fork(part, child_end, socks)
                    w = Incarnation(part, pid, ControlLink(parent_end), server=server)
                    self._procs[part] = w
            except BaseException:
                if w is None:
                    parent_end.close()
                raise
            finally:
                child_end.close()
            return
        if self.start_options.method == "spawn":
            link = ControlLink(parent_end)
            try:
                pid = spawn_worker(self._graph_json, part, link, child_end, socks, death,
                                   shm_slots=slots, waiting=waiting, portable=portable,
                                   trust=self._trust)
            except BaseException:
                link.close()
                raise
            finally:
                child_end.close()
            self._procs[part] = Incarnation(part, pid, link)
            return

        counters = self._counters

        def target() -> int:
            backing.configure(portable)
            return worker_main(plan, part, child_end, socks, death, shm_slots=slots,
                               waiting=waiting,
                               counters=None if counters is None else counter_words(counters))

        self._socks += [child_end, parent_end]  # so that the child closes parent_end
        try:
            pid = fork_worker(target, [child_end, *socks.values()], [death])
        finally:
            self._socks.remove(child_end)
            self._socks.remove(parent_end)
            child_end.close()
        self._procs[part] = Incarnation(part, pid, ControlLink(parent_end))

    def _start_loopback(self, parts: list[str] | None = None,
                        live: dict[str, int] | None = None) -> None:
        """Start every worker over the loopback transport (:mod:`.loopback`), or
        restart ``parts``, whose live peers listen on ``live``'s ports."""
        started = start_all(self.plan, parts or list(self.plan.partitions), self._graph_json,
                            shm_slots=self.shm_slots, waiting=self.waiting, trust=self._trust,
                            token=self._token, live=live)
        for st in started:
            self._socks.append(st.watch)  # closed at the end: the workers see EOF
            self._ports[st.part] = st.port
            self._procs[st.part] = Incarnation(st.part, st.popen.pid, st.link, st.popen)

    def _abort_start(self) -> None:
        """The start failed or was interrupted (Ctrl-C): the workers already started
        have started their flows, so they stop as at the end of a run (finalizing
        them) within ``stop_timeout``; whatever is left then is killed."""
        self._stopping = True
        try:
            self._send_all("stop")
            deadline = time.monotonic() + self.stop_timeout
            for w in self._procs.values():
                while not w.ctl.closed and time.monotonic() < deadline:
                    if select.select([w.ctl.sock], [], [], deadline - time.monotonic())[0]:
                        self._on_messages(w, w.ctl.receive())
                if w.ctl.closed:
                    reap(w)
                    w.ctl.close()
        finally:  # a second Ctrl-C: no more waiting
            self._kill_all()
            self._close()
            self._unlink(self._names)
            untrack(self)
            self._finish()

    @property
    def pids(self) -> dict[str, int]:
        """Worker process id per partition (current incarnations)."""
        return {p: w.pid for p, w in self._procs.items()}

    def _send_all(self, *msg: Any) -> None:
        for w in self._procs.values():
            if not w.ctl.closed:
                w.ctl.send(*msg)

    # ------------------------------------------------------------------ monitor
    def _monitor(self) -> None:
        try:
            self._supervise()
        except BaseException as exc:  # a bug here must still end the run visibly
            self._fail(BackendError(f"the multiprocessing supervisor failed: {exc!r}"))
            self._kill_all()
        finally:
            self._end()

    def _supervise(self) -> None:
        while True:
            live = [w for w in self._procs.values() if not w.ctl.closed]
            if not live:
                return
            timeout = 0.5
            now = time.monotonic()
            if self._kill_at is not None:
                if now >= self._kill_at:
                    self._kill_all()
                    continue
                timeout = min(timeout, self._kill_at - now)
            elif self.duration is not None and self._t0 is not None:
                left = self._t0 + self.duration - now
                if left <= 0:
                    self._stopping = True
                else:
                    timeout = min(timeout, left)
            servers = self._servers.watch() if self._servers is not None else []
            fds: list[Any] = [w.ctl.sock for w in live] + [self._wake_r] + servers
            if self._stopping:
                if self._kill_at is None:
                    self._kill_at = time.monotonic() + self.stop_timeout
                self._stop_stage()
            r, _, _ = select.select(fds, [], [], max(0.0, timeout))
            if self._wake_r in r:
                self._wake_r.recv(4096)
            if self._servers is not None and set(servers) & set(r):
                self._servers.check()  # it died: reaped now, replaced on demand
            for w in live:
                if w.ctl.sock in r:
                    self._on_messages(w, w.ctl.receive())
                    if w.ctl.closed:
                        self._on_exit(w)

    def _stop_stage(self) -> None:
        """Stop upstream partitions first so that downstream ones receive everything."""
        waiting = [w for w in self._procs.values() if not w.ctl.closed and not w.stop_sent]
        if not waiting:
            return
        running = {w.part for w in self._procs.values() if not w.ctl.closed and not w.done}
        ready = [w for w in waiting if not (self._upstream[w.part] & running)]
        if not ready and not any(w.stop_sent and not w.done for w in self._procs.values()
                                 if not w.ctl.closed):
            ready = waiting  # a cycle of partitions: stop them all together
        for w in ready:
            w.stop_sent = True
            w.ctl.send("stop")

    def _on_messages(self, w: Incarnation, msgs: list[list[Any]]) -> None:
        for m in msgs:
            kind = m[0]
            if kind == "ready":
                w.ready = True
                if self._stopping:
                    continue
                if self._t0 is not None:  # a restarted worker joins the running graph
                    w.ctl.send("go", self._t0)
                elif all(p.ready for p in self._procs.values()):
                    self._t0 = time.monotonic()
                    self._send_all("go", self._t0)
            elif kind == "shm":  # a ring named for a framed channel, just created
                w.names.append(str(m[1]))
                self._names.append(str(m[1]))
            elif kind == "names":  # rings a finished producer's consumers may open
                self._names.extend(str(n) for n in m[1])
            elif kind == "stats":
                w.stats = m[1]
            elif kind == "scheduling":
                w.scheduling = str(m[1])
                if w.scheduling.startswith("refused"):
                    log.warning("partition %r (worker pid %d) runs with the ordinary "
                                "scheduler: realtime=%s %s", w.part, w.pid,
                                self.waiting.realtime, w.scheduling)
            elif kind == "done":
                w.stats = m[1]
                w.done = True
            elif kind == "error":
                where = f"worker pid {w.pid}, partition {w.part!r}"
                err = ErrorRecord.unpack(m[1]).rebuild(where)
                if w.error is None:
                    w.error = err
                if not self._may_restart(w, failed=True):
                    self._fail(err)

    def _on_exit(self, w: Incarnation) -> None:
        status = reap(w)
        how = ""
        if status is None:  # an orphan of a dead fork server: only "done" tells
            how = orphan_exit(w.server, w.done) if w.server is not None else ""
            status = 0 if w.done and w.error is None else 1 << 8
        w.exitcode = status
        if status != 0 and self.start_options.shm == "posix":
            backing.sweep(w.pid)  # killed between shm_open and shm_unlink?
            self._unlink(w.names)  # named rings its consumers had not opened (any OS)
        w.ctl.close()
        add_rows(self._base, w.stats)
        w.stats = {}
        if self._stopping:
            return
        failed = w.error is not None or not w.done or status != 0
        how = how or describe_exit(status, w.popen is not None)
        if self._may_restart(w, failed=failed):
            try:
                self._restart(w, how)
            except (RetrieverError, OSError) as exc:  # the others stop in order
                self._fail(exc if isinstance(exc, RetrieverError) else BackendError(
                    f"could not restart the worker of partition {w.part!r}: {exc}"))
            return
        if w.error is None:
            flows = self.plan.partitions[w.part].nodes
            err: BaseException = FlowError(
                flows[0],
                f"the worker process of partition {w.part!r} (pid {w.pid}, flows "
                f"{', '.join(flows)}) {how}",
                hint="see the flow's own output; set .restart_policy('on-failure') to "
                     "restart it automatically")
        else:
            err = w.error
        self._fail(err)

    def _may_restart(self, w: Incarnation, *, failed: bool) -> bool:
        if self._stopping:
            return False
        pol = self.plan.restart[w.part]
        if not pol.allows(failed):
            return False
        times = self._restart_times[w.part]
        now = time.monotonic()
        while times and now - times[0] > pol.window:
            times.popleft()
        return len(times) < pol.max_restarts

    def _restart(self, w: Incarnation, how: str) -> None:
        self._restart_times[w.part].append(time.monotonic())
        for flow in self.plan.partitions[w.part].nodes:
            self._restarts[flow] += 1
        log.warning("restarting the worker of partition %r (%s)", w.part,
                    "flow failed" if w.error else how)
        self._start(w.part)

    def _fail(self, err: BaseException) -> None:
        self._add_error(err)
        self.request_stop()

    def _kill_all(self) -> None:
        for w in self._procs.values():
            if not w.ctl.closed:
                if w.popen is not None:
                    w.popen.kill()  # SIGKILL; TerminateProcess on Windows
                else:
                    try:
                        os.kill(w.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                reap(w)
                w.ctl.close()
                if self.start_options.shm == "posix":
                    backing.sweep(w.pid)
                    self._unlink(w.names)

    def _end(self) -> None:
        self._close()
        self._unlink(self._names)  # every worker has exited: nobody opens them any more
        self._report.flows = self._collect()
        self._report.duration = self._live_duration()
        untrack(self)
        self._finish()

    @staticmethod
    def _unlink(names: list[str]) -> None:
        for name in names:
            backing.unlink(name)

    def _close(self) -> None:
        for s in self._socks:
            s.close()
        if self._counters is not None:
            self._counters.close()
            self._counters = None
        for w in self._procs.values():
            if not w.ctl.closed:
                w.ctl.close()
        if self._servers is not None:
            self._servers.close()  # after their children were reaped: they reap them
        if self._fds_open:
            self._fds_open = False
            os.close(self._death_w)  # workers still alive see the parent go away
            os.close(self._death_r)

    def _collect(self) -> dict[str, FlowStats]:
        rows = {flow: dict(row) for flow, row in self._base.items()}
        for w in self._procs.values():
            add_rows(rows, w.stats)
        granted = {p: w.scheduling for p, w in self._procs.items()}
        out: dict[str, FlowStats] = {}
        for flow, part in self.plan.owner.items():
            r = rows.get(flow, {})
            out[flow] = FlowStats(**{k: int(r.get(k, 0)) for k in COUNTERS},
                                  restarts=self._restarts[flow],
                                  waiting_on=list(r.get("waiting_on", [])),
                                  scheduling=granted.get(part, ""))
        return out

    def _live_flows(self) -> dict[str, FlowStats]:
        return self._collect()

    def _live_duration(self) -> float:
        return time.monotonic() - (self._t0 or self._t_start)

    def _force_stop(self) -> None:
        self._kill_all()

    # ------------------------------------------------------------------ RunHandle
    def request_stop(self) -> None:
        """Ask every worker to stop (non-blocking)."""
        self._stopping = True
        try:
            self._wake_w.send(b"s")
        except (BlockingIOError, OSError):  # already woken, or finished and closed
            pass
