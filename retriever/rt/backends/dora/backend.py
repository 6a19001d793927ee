"""The dora backend's run handle: compile, launch, watch, stop, clean up.

``pipe.run(backend="dora", duration=..., **options)``; options:

- ``mode``: ``"auto"`` (default: ``"cluster"`` when any partition has a placement,
  else ``"run"``), ``"run"`` (``dora run``) or ``"cluster"`` (a private coordinator
  and one daemon per machine on free ports);
- ``coordinator="host:port"``: use an existing dora cluster instead (nothing but the
  dataflow is started or stopped there);
- ``echo`` (default True): print the nodes' output, prefixed with their dora id;
- ``startup_timeout`` (60 s), ``stop_grace`` (5 s), ``python`` (node interpreter);
- ``shm_pool``: bytes of dora shared memory for each node that may publish large
  messages, any port not a number (default: 64 MiB, less when ``/dev/shm`` is small; see
  :func:`.compile.shm_pool_size`); other nodes keep dora's default;
- ``zenoh_open_wait`` (0.02 s): the most a node's zenoh session waits for its peers
  when it opens (zenoh's own default, 0.5 s, with None); see
  :func:`.launch.limit_zenoh_open_wait`.

``duration`` counts from the moment every node joined the dataflow. A flow error (or
lag error) ends the run and is raised by ``wait``/``stop`` as the same typed error
naming the flow; a node that dies without a report raises :class:`FlowError` naming its
flows. The temporary directory, the dataflow and every process are gone when the
handle reports the end, whatever the reason; if the owning process itself dies (even by
``SIGKILL``), a small guard process (:mod:`.guard`) ends the run's processes and removes
its temporary directory; if the guard is killed with it, the next dora run removes what
they left (:mod:`.stale`). A run may be started from any thread, including one that exits
right after. A node whose flows have a restart policy is restarted by dora; the run goes
on while the policy allows it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retriever.contract.errors import BackendError, ConfigError, FlowError
from retriever.ir.model import ExecutionGraph

from ...handle import BackgroundRun
from ...report import FlowStats
from . import compile as dc
from .compat import check_install
from .guard import remove_orphans, shm_files
from .launch import (
    ClusterLauncher,
    Guard,
    Launcher,
    LocalLauncher,
    limit_zenoh_open_wait,
    processes_with_token,
    sweep,
)
from .plan import UNSAFE_ID_CHARS
from .stale import PREFIX, record_owner, remove_stale
from .status import StatusReader, errors_from_status

POLL = 0.05
log = logging.getLogger("retriever.dora")


def node_pythonpath() -> str:
    """PYTHONPATH for local nodes: this process's import roots outside the install."""
    skip = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots: list[str] = [os.getcwd()]
    for p in sys.path:
        real = os.path.realpath(p or os.getcwd())
        if os.path.isdir(real) and not any(real.startswith(s + os.sep) or real == s
                                           for s in skip):
            roots.append(real)
    roots += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(roots))


class DoraRun(BackgroundRun):
    """A dataflow running on dora (see the module docs for options)."""

    backend = "dora"

    def __init__(self, graph: ExecutionGraph, *, duration: float | None = None,
                 live: Mapping[str, Any] | None = None, mode: str = "auto",
                 coordinator: str | None = None, echo: bool = True,
                 startup_timeout: float = 60.0, stop_grace: float = 5.0,
                 python: str | None = None, shm_pool: int | None = None,
                 zenoh_open_wait: float | None = 0.02, **options: Any) -> None:
        if options:
            raise ConfigError(f"unknown dora backend option(s): {', '.join(sorted(options))}",
                              hint="see retriever.rt.backends.dora.backend for options")
        if mode not in ("auto", "run", "cluster"):
            raise ConfigError(f"dora mode {mode!r} is not one of auto, run, cluster")
        install = check_install()
        # leftovers of runs whose owner and guard were both killed (see .stale)
        remove_stale(dc.ENV_RUN)
        self.graph = graph
        self.duration = duration
        self.token = uuid.uuid4().hex[:12]
        self.name = f"retriever-{UNSAFE_ID_CHARS.sub('-', graph.ir.name)}-{self.token[:8]}"
        self.plan = dc.plan_dataflow(graph)
        cluster = coordinator is not None or mode == "cluster" or (
            mode == "auto" and self.plan.placed)
        self.mode = "cluster" if cluster else "run"
        self.stop_grace = stop_grace
        self.startup_timeout = startup_timeout
        super().__init__()
        self.exit_timeout = stop_grace * 2 + 20.0
        self._stop = threading.Event()
        self._reported: set[str] = set()  # nodes whose error file was read
        self._t0 = time.monotonic()
        self._since = time.time() - 1.0  # shared memory created after this may be ours
        self._shm: set[str] = set()  # /dev/shm files the run's processes used
        self._t_ready: float | None = None
        self.node_info: dict[str, dict[str, Any]] = {}
        self.leftover: list[int] = []
        # Restarts (dora restarts nodes with a restart policy): per node, the pids of
        # failed incarnations already handled, when they failed, and the counters they
        # had reached (added to the new incarnation's).
        self._failed_pids: dict[str, set[int]] = {}
        self._restart_times: dict[str, deque[float]] = {}
        self._restarts: dict[str, int] = {}
        self._carry: dict[str, dict[str, dict[str, int]]] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
        self._guard: Guard | None = None
        try:
            self._guard = Guard(self.tmp, dc.ENV_RUN, self.token)
            record_owner(self.tmp, self.token, [os.getpid(), self._guard.proc.pid])
            status_dir = self.tmp / "status"
            status_dir.mkdir()
            self.status = StatusReader(status_dir)
            env = {dc.ENV_RUN: self.token, dc.ENV_STATUS: str(status_dir),
                   dc.ENV_EPOCH: repr(time.time()), dc.ENV_CWD: os.getcwd(),
                   dc.ENV_OWNER: f"{socket.gethostname()}:{os.getpid()}",
                   "PYTHONPATH": node_pythonpath()}
            self.dataflow = self.tmp / "dataflow.yml"
            self.dataflow.write_text(dc.compile_dataflow(
                graph, python=python or sys.executable, env=env, deploy=cluster,
                shm_pool=dc.shm_pool_size(dc.pool_publishers(graph), shm_pool)))
            proc_env = dict(os.environ)
            proc_env[dc.ENV_RUN] = self.token
            proc_env[dc.ENV_OWNER] = env[dc.ENV_OWNER]
            limit_zenoh_open_wait(proc_env, self.tmp, zenoh_open_wait)
            self.launcher: Launcher
            if cluster:
                self.launcher = ClusterLauncher(
                    install.cli, proc_env, self.tmp, echo, name=self.name,
                    daemons=self._daemons(), coordinator=coordinator,
                    ready_timeout=startup_timeout)
            else:
                self.launcher = LocalLauncher(install.cli, proc_env, self.tmp, echo)
            self.launcher.start(self.dataflow)
        except BaseException:
            self._cleanup()
            self._finish()
            raise
        self._thread = threading.Thread(target=self._main, name="retriever-dora-run",
                                        daemon=True)
        self._thread.start()

    def _daemons(self) -> list[tuple[str | None, dict[str, str]]]:
        """One daemon per placement machine (+ one for unplaced nodes)."""
        machines: dict[str | None, dict[str, str]] = {}
        for n in self.plan.nodes:
            machines.setdefault(n.machine, {}).update(n.labels)
        return list(machines.items())

    # ------------------------------------------------------------------ watching
    def _main(self) -> None:
        nodes = [n.dora_id for n in self.plan.nodes]
        try:
            self._watch(nodes)
        except BaseException as exc:
            self._add_error(exc)
        finally:
            # dora's transport leaves its shared memory behind: note it while it is used
            self._shm = shm_files(processes_with_token(dc.ENV_RUN, self.token))
            try:
                self.launcher.stop(self.stop_grace)
            except BaseException as exc:
                self._add_error(exc)
            self._node_errors(nodes)  # finalize failures reported while stopping
            self._collect()
            self._cleanup()
            self._finish()

    def _watch(self, nodes: list[str]) -> None:
        while not self._stop.wait(POLL):
            if self._node_errors(nodes) or self._dead_node(nodes):
                return
            if self.launcher.exited:
                if not self._node_errors(nodes) and not self._dead_node(nodes):
                    err = self._exit_error()
                    if err is not None:
                        self._add_error(err)
                return
            now = time.monotonic()
            if self._t_ready is None:
                if all(self.status.node(n).ready for n in nodes):
                    self._t_ready = now
                    self.node_info = {n: self.status.node(n).ready or {} for n in nodes}
                elif now - self._t0 > self.startup_timeout:
                    raise BackendError(
                        f"the dora dataflow did not start within {self.startup_timeout:.0f}s"
                        f"\n{self.launcher.log_tail()}")
            elif self.duration is not None and now - self._t_ready >= self.duration:
                return

    def _node_errors(self, nodes: list[str]) -> bool:
        """Collect the errors nodes reported (each node's file once); True if any."""
        for n in nodes:
            if n in self._reported:
                continue
            st = self.status.node(n)
            if st.error is not None:
                pid = int(st.error.get("pid") or 0)
                if pid in self._failed_pids.get(n, ()) or self._restarted(n, pid, st.stats):
                    continue  # dora restarts this node: the run goes on
                self._reported.add(n)
                for err in errors_from_status(st.error, f"dora node {n!r}"):
                    self._add_error(err)
        return bool(self._reported)

    def _dead_node(self, nodes: list[str]) -> bool:
        """Whether a local node's process is gone without a report (recorded as error)."""
        for n in nodes:
            st = self.status.node(n)
            info = st.ready  # the latest incarnation's
            if not info or info.get("host") != socket.gethostname() or n in self._reported:
                continue
            pid = int(info.get("pid", 0))
            if not pid or pid in self._failed_pids.get(n, ()) or \
                    os.path.exists(f"/proc/{pid}") or st.stats.get("state") == "done":
                continue
            if self._node_errors([n]):
                return True
            if pid in self._failed_pids.get(n, ()) or self._restarted(n, pid, st.stats):
                continue
            self._add_error(self._dead(n, "its process exited without a report"))
            return True
        return False

    def _restarted(self, dora_id: str, pid: int, stats: dict[str, Any]) -> bool:
        """Count a failure of ``dora_id``'s incarnation ``pid``; True when its restart
        policy lets dora restart it (the run goes on), False when the run must end."""
        plan = next((p for p in self.plan.nodes if p.dora_id == dora_id), None)
        pol = plan.restart if plan is not None else None
        if pol is None or self._stop.is_set() or self.status.node(dora_id).ready is None:
            return False  # no policy, stopping, or a node that never joined
        times = self._restart_times.setdefault(dora_id, deque())
        now = time.monotonic()
        while times and now - times[0] > pol.window:
            times.popleft()
        if len(times) >= pol.max_restarts:
            return False
        times.append(now)
        self._failed_pids.setdefault(dora_id, set()).add(pid)
        self._restarts[dora_id] = self._restarts.get(dora_id, 0) + 1
        carry = self._carry.setdefault(dora_id, {})
        for flow, counters in (stats.get("flows") or {}).items():
            row = carry.setdefault(flow, {})
            for key, value in counters.items():
                if isinstance(value, int):
                    row[key] = row.get(key, 0) + value
        log.warning("dora restarts node %r (restart %d of at most %d in %gs)", dora_id,
                    len(times), pol.max_restarts, pol.window)
        return True

    def _dead(self, dora_id: str, why: str) -> FlowError:
        flows = next((p.flows for p in self.plan.nodes if p.dora_id == dora_id), [dora_id])
        return FlowError(", ".join(flows), f"the dora node {dora_id!r} died: {why}",
                         hint="see dora's log below; a crash in native code or os._exit "
                              "ends a node without a Python traceback",
                         traceback_text=self.launcher.log_tail())

    def _exit_error(self) -> BaseException | None:
        code = self.launcher.exit_code
        failed = [n for n in self.launcher.failed_nodes()
                  if any(p.dora_id == n for p in self.plan.nodes)]
        if failed:
            return self._dead(failed[0], f"dora reported it failed (exit {code})")
        if self._stop.is_set() or code == 0:
            return None
        return BackendError(f"dora exited with code {code} before the run ended\n"
                            f"{self.launcher.log_tail()}")

    def _collect(self) -> None:
        self._report.flows = self._live_flows()
        self._report.duration = self._live_duration()

    def _cleanup(self) -> None:
        self.leftover = sweep(dc.ENV_RUN, self.token)
        shutil.rmtree(self.tmp, ignore_errors=True)
        remove_orphans(self._shm, self._since)
        if self._guard is not None:
            self._guard.release()

    # ------------------------------------------------------------------ RunHandle
    @property
    def started(self) -> bool:
        """Whether every node joined the dataflow."""
        return self._t_ready is not None

    def _live_flows(self) -> dict[str, FlowStats]:
        """Per-flow counters from the nodes' latest status files."""
        known = set(FlowStats.__dataclass_fields__)
        flows: dict[str, FlowStats] = {}
        for n in self.plan.nodes:
            stats = self.status.node(n.dora_id).stats.get("flows", {})
            carry = self._carry.get(n.dora_id, {})
            for name in n.flows:
                row = {k: v for k, v in stats.get(name, {}).items() if k in known}
                for key, value in carry.get(name, {}).items():  # earlier incarnations
                    if key in known:
                        row[key] = row.get(key, 0) + value
                if n.dora_id in self._restarts:
                    row["restarts"] = self._restarts[n.dora_id]
                flows[name] = FlowStats(**row)
        return flows

    def _live_duration(self) -> float:
        start = self._t_ready if self._t_ready is not None else self._t0
        return time.monotonic() - start

    def request_stop(self) -> None:
        """Ask the dataflow to stop (non-blocking); flows are finalized, then cleaned up."""
        self._stop.set()
