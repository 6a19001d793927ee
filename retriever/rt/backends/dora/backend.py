"""The dora backend's run handle: compile, launch, watch, stop, clean up.

``pipe.run(backend="dora", duration=..., **options)``; options:

- ``mode``: ``"auto"`` (default: ``"cluster"`` when any partition has a placement,
  else ``"run"``), ``"run"`` (``dora run``) or ``"cluster"`` (a private coordinator
  and one daemon per machine on free ports);
- ``coordinator="host:port"``: use an existing dora cluster instead (nothing but the
  dataflow is started or stopped there);
- ``echo`` (default True): print the nodes' output, prefixed with their dora id;
- ``startup_timeout`` (60 s), ``stop_grace`` (5 s), ``python`` (node interpreter).

``duration`` counts from the moment every node joined the dataflow. A flow error (or
lag error) ends the run and is raised by ``wait``/``stop`` as the same typed error
naming the flow; a node that dies without a report raises :class:`FlowError` naming its
flows. The temporary directory, the dataflow and every process are gone when the
handle reports the end, whatever the reason; if the owning process itself dies (even by
``SIGKILL``), a small guard process (:mod:`.guard`) ends the run's processes and removes
its temporary directory. A run may be started from any thread, including one that exits
right after.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retriever.contract.errors import BackendError, ConfigError, FlowError
from retriever.ir.model import ExecutionGraph

from ...report import FlowStats, RunReport
from . import compile as dc
from .compat import check_install
from .launch import ClusterLauncher, Guard, Launcher, LocalLauncher, sweep
from .status import StatusReader, error_from_status

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


class DoraRun:
    """A dataflow running on dora (see the module docs for options)."""

    def __init__(self, graph: ExecutionGraph, *, duration: float | None = None,
                 live: Mapping[str, Any] | None = None, mode: str = "auto",
                 coordinator: str | None = None, echo: bool = True,
                 startup_timeout: float = 60.0, stop_grace: float = 5.0,
                 python: str | None = None, **options: Any) -> None:
        if options:
            raise ConfigError(f"unknown dora backend option(s): {', '.join(sorted(options))}",
                              hint="see retriever.rt.backends.dora.backend for options")
        if mode not in ("auto", "run", "cluster"):
            raise ConfigError(f"dora mode {mode!r} is not one of auto, run, cluster")
        install = check_install()
        self.graph = graph
        self.duration = duration
        self.token = uuid.uuid4().hex[:12]
        self.name = f"retriever-{dc._ID_OK.sub('-', graph.ir.name)}-{self.token[:8]}"
        self.plan = dc.plan_dataflow(graph)
        cluster = coordinator is not None or mode == "cluster" or (
            mode == "auto" and self.plan.placed)
        self.mode = "cluster" if cluster else "run"
        self.stop_grace = stop_grace
        self.startup_timeout = startup_timeout
        self._report = RunReport(backend="dora")
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._t0 = time.monotonic()
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
        self.tmp = Path(tempfile.mkdtemp(prefix="retriever-dora-"))
        self._guard: Guard | None = None
        try:
            self._guard = Guard(self.tmp, dc.ENV_RUN, self.token)
            status_dir = self.tmp / "status"
            status_dir.mkdir()
            self.status = StatusReader(status_dir)
            env = {dc.ENV_RUN: self.token, dc.ENV_STATUS: str(status_dir),
                   dc.ENV_EPOCH: repr(time.time()), dc.ENV_CWD: os.getcwd(),
                   dc.ENV_OWNER: f"{socket.gethostname()}:{os.getpid()}",
                   "PYTHONPATH": node_pythonpath()}
            self.dataflow = self.tmp / "dataflow.yml"
            self.dataflow.write_text(dc.compile_dataflow(
                graph, python=python or sys.executable, env=env, deploy=cluster))
            proc_env = dict(os.environ)
            proc_env[dc.ENV_RUN] = self.token
            proc_env[dc.ENV_OWNER] = env[dc.ENV_OWNER]
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
            raise
        self._thread = threading.Thread(target=self._main, name="retriever-dora-run",
                                        daemon=True)
        _ACTIVE.add(self)
        self._thread.start()

    def _daemons(self) -> list[tuple[str | None, dict[str, str]]]:
        """One daemon per placement machine (+ one for unplaced nodes)."""
        machines: dict[str | None, dict[str, str]] = {}
        for n in self.plan.nodes:
            machines.setdefault(n.machine, {}).update(n.labels)
        return list(machines.items())

    # ------------------------------------------------------------------ watching
    def _main(self) -> None:
        try:
            self._watch()
        except BaseException as exc:
            self._error = self._error or exc
        finally:
            try:
                self.launcher.stop(self.stop_grace)
            except BaseException as exc:
                self._error = self._error or exc
            self._collect()
            self._cleanup()
            self._done.set()

    def _watch(self) -> None:
        nodes = [n.dora_id for n in self.plan.nodes]
        while not self._stop.wait(POLL):
            err = self._first_error(nodes)
            if err is not None:
                self._error = err
                return
            if self.launcher.exited:
                self._error = self._first_error(nodes) or self._exit_error()
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

    def _first_error(self, nodes: list[str]) -> BaseException | None:
        for n in nodes:
            st = self.status.node(n)
            if st.error is not None:
                pid = int(st.error.get("pid") or 0)
                if pid in self._failed_pids.get(n, ()):
                    continue  # an incarnation dora restarted already
                err = error_from_status(st.error)
                if not self._restarted(n, pid, st.stats):
                    return err
        for n in nodes:
            st = self.status.node(n)
            info = st.ready
            if not info or info.get("host") != socket.gethostname():
                continue
            pid = int(info.get("pid", 0))
            died = (pid and pid not in self._failed_pids.get(n, ())
                    and not os.path.exists(f"/proc/{pid}")
                    and st.stats.get("state") != "done")
            if died and not self._restarted(n, pid, st.stats):
                return self._dead(n, "its process exited without a report")
        return None

    def _restarted(self, dora_id: str, pid: int, stats: dict[str, Any]) -> bool:
        """Count a failure of ``dora_id``'s incarnation ``pid``; True when its restart
        policy lets dora restart it (the run goes on), False when the run must end."""
        plan = next((p for p in self.plan.nodes if p.dora_id == dora_id), None)
        pol = plan.restart if plan is not None else None
        if pol is None or self.status.node(dora_id).ready is None:
            return False  # a node that never joined is not restarted by us
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

    def _flow_stats(self, dora_id: str, flows: list[str]) -> dict[str, dict[str, int]]:
        """Counters of the flows of one node, over all its incarnations."""
        live = self.status.node(dora_id).stats.get("flows", {})
        carry = self._carry.get(dora_id, {})
        out: dict[str, dict[str, int]] = {}
        for name in flows:
            row = dict(live.get(name, {}))
            for key, value in carry.get(name, {}).items():
                row[key] = row.get(key, 0) + value
            if dora_id in self._restarts:
                row["restarts"] = self._restarts[dora_id]
            out[name] = row
        return out

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
        flows: dict[str, FlowStats] = {}
        for n in self.plan.nodes:
            for name, row in self._flow_stats(n.dora_id, n.flows).items():
                flows[name] = FlowStats(**row)
        self._report.flows = flows
        start = self._t_ready if self._t_ready is not None else self._t0
        self._report.duration = time.monotonic() - start
        self._report.error = self._error

    def _cleanup(self) -> None:
        self.leftover = sweep(dc.ENV_RUN, self.token)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._guard is not None:
            self._guard.release()

    # ------------------------------------------------------------------ RunHandle
    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        return not self._done.is_set()

    @property
    def started(self) -> bool:
        """Whether every node joined the dataflow."""
        return self._t_ready is not None

    @property
    def report(self) -> RunReport:
        """Counters so far (final once the run ended)."""
        if self.running:
            self._report.flows = {k: FlowStats(**v) for k, v in self.stats().items()}
        return self._report

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters, from the nodes' latest status files."""
        if not self.running:
            return {k: vars(v) for k, v in self._report.flows.items()}
        out: dict[str, Any] = {}
        for n in self.plan.nodes:
            out.update(self._flow_stats(n.dora_id, n.flows))
        return out

    def wait(self, timeout: float | None = None) -> RunReport | None:
        """Wait for the end; raise the run's error if it failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.2):  # short waits keep Ctrl-C responsive
            if deadline is not None and time.monotonic() >= deadline:
                return None
        if self._error is not None:
            raise self._error
        return self._report

    def stop(self) -> RunReport:
        """Stop the dataflow (flows are finalized), clean up, return the report."""
        self._stop.set()
        while not self._done.wait(0.2):
            pass
        if self._error is not None:
            raise self._error
        return self._report


_ACTIVE: weakref.WeakSet[DoraRun] = weakref.WeakSet()


@atexit.register
def _stop_active_runs() -> None:
    """At interpreter exit, stop runs still going so nothing outlives the process."""
    for run in list(_ACTIVE):
        run._stop.set()
        run._done.wait(run.stop_grace * 2 + 20.0)
