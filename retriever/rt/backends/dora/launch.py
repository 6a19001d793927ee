"""Starting and stopping dora for one run: ``dora run``, or a private local cluster.

- :class:`LocalLauncher` runs ``dora run`` (no coordinator, no fixed ports) and stops
  it like Ctrl-C would (SIGINT: dora sends every node a stop event).
- :class:`ClusterLauncher` starts its own ``dora coordinator`` and one ``dora daemon``
  per machine on free ports (so runs never meet on dora's defaults), or joins an
  existing coordinator, starts the dataflow under a unique name with
  ``dora start --attach``, and stops it with ``dora stop <uuid>`` and ``dora down``.

Every process started here gets its own session (Ctrl-C in a terminal reaches only the
owner, which stops the run in order). Nothing here ties a child's life to the thread that
started it (``PR_SET_PDEATHSIG`` would: it fires when that *thread* exits); instead the
run token in the environment lets :func:`sweep`, and the run's guard process
(:mod:`.guard`) when the owner dies, find and end anything left over.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from retriever.contract.errors import BackendError

_UUID = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
_NODE_STDOUT = re.compile(r"^\S+ stdout (?P<node>[A-Za-z0-9_-]+)(?: on daemon `[^`]*`)?: "
                          r"(?P<text>.*)$")
_NODE_ERROR = re.compile(r"ERROR\s+(?P<node>[A-Za-z0-9_-]+)(?: on daemon `[^`]*`)?:")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


#: dora's variable naming a zenoh config fragment layered on the one dora computes;
#: dora's daemon and every node it spawns read it (``ZENOH_CONFIG`` replaces it all).
ENV_ZENOH_OVERLAY = "DORA_ZENOH_CONFIG_OVERLAY"
ENV_ZENOH_CONFIG = "ZENOH_CONFIG"


def limit_zenoh_open_wait(env: dict[str, str], tmp: Path, wait: float | None) -> bool:
    """Bound how long each node's zenoh session waits for its peers when it opens.

    zenoh's session open waits up to its ``scouting/delay`` (500 ms) for the links to
    the peers it was told to dial. A dora node dials the zenoh listeners of the nodes
    it consumes from, and those exist only once their process reached ``Node()``:
    a consumer that gets there first (its imports were quicker) waits the full 500 ms,
    and every node then waits for it at dora's start barrier. That is the bimodal
    start-up of ``dora run`` (0.5 s more on some runs, raw dataflows included).
    Nothing depends on that wait: links formed afterwards are found by zenoh's gossip,
    and dora sends over the daemon until its start-up handshake proved each direct
    route. So the processes this run starts get a config overlay (a file in ``tmp``
    named by :data:`ENV_ZENOH_OVERLAY`) with ``scouting/delay`` = ``wait`` seconds.

    Left alone (returns False): ``wait`` None, or the user's environment already
    configures zenoh (dora refuses both variables together, and theirs wins).
    """
    if wait is None or ENV_ZENOH_OVERLAY in env or ENV_ZENOH_CONFIG in env:
        return False
    path = tmp / "zenoh-overlay.json5"
    path.write_text(json.dumps({"scouting": {"delay": max(0, round(wait * 1000))}}))
    env[ENV_ZENOH_OVERLAY] = str(path)
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LogPump:
    """Reads a child's output: keeps a tail, echoes node output, notes failed nodes."""

    def __init__(self, stream: IO[str], echo: bool, label: str) -> None:
        self.tail: deque[str] = deque(maxlen=300)
        self.failed_nodes: list[str] = []
        self.uuids: list[str] = []
        self.echo = echo
        self._stream = stream
        self._thread = threading.Thread(target=self._main, name=f"retriever-dora-{label}",
                                        daemon=True)
        self._thread.start()

    def _main(self) -> None:
        for raw in self._stream:
            line = _ANSI.sub("", raw.rstrip("\n"))
            self.tail.append(line)
            m = _NODE_STDOUT.match(line)
            if m is not None:
                if self.echo:
                    print(f"[{m['node']}] {m['text']}", flush=True)
                continue
            err = _NODE_ERROR.search(line)
            if err is not None and err["node"] != "dora":
                self.failed_nodes.append(err["node"])
                if self.echo:
                    print(line, file=sys.stderr, flush=True)
            if not self.uuids and ("dataflow start" in line or "dataflow_id" in line):
                found = _UUID.search(line)
                if found:
                    self.uuids.append(found.group(1))

    def join(self, timeout: float) -> None:
        """Wait for the stream to close."""
        self._thread.join(timeout)

    def text(self, lines: int = 40) -> str:
        """The last ``lines`` lines."""
        return "\n".join(list(self.tail)[-lines:])


def _spawn(argv: Sequence[str], env: Mapping[str, str], cwd: Path, echo: bool,
           label: str) -> tuple[subprocess.Popen[str], LogPump]:
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True)
    except OSError as exc:
        raise BackendError(f"cannot start {argv[0]!r}: {exc.strerror}",
                           hint="pip install 'pyretriever[dora]'") from None
    assert proc.stdout is not None
    return proc, LogPump(proc.stdout, echo, label)


def _end(proc: subprocess.Popen[str], first: int, grace: float) -> None:
    """Signal ``proc`` with ``first``, then TERM, then KILL, waiting in between."""
    for sig, wait in ((first, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_cli(argv: Sequence[str], env: Mapping[str, str], timeout: float,
             cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), env=dict(env), cwd=cwd, capture_output=True,
                              text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", f"timed out after {timeout}s")


class Launcher:
    """Common interface of the two ways to run a dataflow."""

    main: subprocess.Popen[str] | None = None
    pump: LogPump | None = None

    def start(self, dataflow: Path) -> None:
        """Start the dataflow described by the YAML file ``dataflow``."""
        raise NotImplementedError

    @property
    def exited(self) -> bool:
        """Whether the dataflow's controlling process ended."""
        return self.main is None or self.main.poll() is not None

    @property
    def exit_code(self) -> int | None:
        """Exit code of the controlling process (None while it runs)."""
        return None if self.main is None else self.main.poll()

    def stop(self, grace: float) -> None:
        """Stop the dataflow gracefully, then tear down everything this run started."""
        raise NotImplementedError

    def failed_nodes(self) -> list[str]:
        """dora node ids that dora reported as failed."""
        return list(self.pump.failed_nodes) if self.pump else []

    def log_tail(self, lines: int = 40) -> str:
        """The end of dora's output."""
        return self.pump.text(lines) if self.pump else ""


class LocalLauncher(Launcher):
    """``dora run``: one machine, no coordinator."""

    def __init__(self, cli: str, env: Mapping[str, str], cwd: Path, echo: bool) -> None:
        self.cli, self.env, self.cwd, self.echo = cli, env, cwd, echo

    def start(self, dataflow: Path) -> None:
        """Spawn ``dora run``."""
        self.main, self.pump = _spawn([self.cli, "run", str(dataflow)], self.env, self.cwd,
                                      self.echo, "run")

    def stop(self, grace: float) -> None:
        """SIGINT (dora stops every node), then escalate."""
        if self.main is not None:
            _end(self.main, signal.SIGINT, grace)
        if self.pump is not None:
            self.pump.join(2.0)


class ClusterLauncher(Launcher):
    """A coordinator with daemons (started here unless ``coordinator`` is given)."""

    def __init__(self, cli: str, env: Mapping[str, str], cwd: Path, echo: bool, *,
                 name: str, daemons: Sequence[tuple[str | None, dict[str, str]]],
                 coordinator: str | None = None, ready_timeout: float = 30.0) -> None:
        self.cli, self.env, self.cwd, self.echo = cli, env, cwd, echo
        self.name = name
        self.daemon_specs = list(daemons)
        self.external = coordinator is not None
        if coordinator is not None:
            host, _, port = coordinator.rpartition(":")
            if not port.isdigit():
                raise BackendError(f"coordinator={coordinator!r} is not 'host:port'")
            self.addr, self.port = host or "127.0.0.1", int(port)
        else:
            self.addr, self.port = "127.0.0.1", 0
        self.ready_timeout = ready_timeout
        self.services: list[subprocess.Popen[str]] = []
        self.service_pumps: list[LogPump] = []

    def _cli(self, *args: str) -> list[str]:
        return [self.cli, *args, "--coordinator-addr", self.addr,
                "--coordinator-port", str(self.port)]

    def _start_services(self) -> None:
        ports = free_ports(2 + len(self.daemon_specs))
        self.port, zenoh = ports[0], ports[1]
        proc, pump = _spawn([self.cli, "coordinator", "--port", str(self.port),
                             "--store", "memory", "--quiet"], self.env, self.cwd, False,
                            "coordinator")
        self.services.append(proc)
        self.service_pumps.append(pump)
        for (machine, labels), listen in zip(self.daemon_specs, ports[2:], strict=True):
            argv = [self.cli, "daemon", "--coordinator-port", str(self.port),
                    "--local-listen-port", str(listen),
                    "--zenoh-peer", f"tcp/127.0.0.1:{zenoh}", "--zenoh-no-multicast"]
            if machine:
                argv += ["--machine-id", machine]
            if labels:
                argv += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items())]
            proc, pump = _spawn(argv, self.env, self.cwd, False, f"daemon-{machine}")
            self.services.append(proc)
            self.service_pumps.append(pump)
        self._wait_for_daemons()

    def _wait_for_daemons(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        want = len(self.daemon_specs)
        while time.monotonic() < deadline:
            dead = [p for p in self.services if p.poll() is not None]
            if dead:
                tail = "\n".join(pump.text(10) for pump in self.service_pumps)
                raise BackendError(f"a dora coordinator/daemon exited during start-up:\n{tail}")
            out = _run_cli(self._cli("cluster", "status"), self.env, 10.0, self.cwd)
            rows = [ln for ln in out.stdout.splitlines()
                    if ln.strip() and "ago" in ln and not ln.startswith("DAEMON")]
            if out.returncode == 0 and len(rows) >= want:
                return
            time.sleep(0.05)
        raise BackendError(f"dora daemons did not connect within {self.ready_timeout:.0f}s",
                           hint="check that nothing else uses the ports, or raise "
                                "startup_timeout")

    def start(self, dataflow: Path) -> None:
        """Start services (unless external), then ``dora start --attach``."""
        if not self.external:
            self._start_services()
        self.main, self.pump = _spawn(
            self._cli("start", str(dataflow), "--name", self.name, "--attach"),
            self.env, self.cwd, self.echo, "start")

    def dataflow_id(self) -> str | None:
        """The uuid dora gave the dataflow (once started)."""
        return self.pump.uuids[0] if self.pump and self.pump.uuids else None

    def stop(self, grace: float) -> None:
        """``dora stop <uuid>``; then ``dora down`` and end the services we own."""
        try:
            if self.main is not None and self.main.poll() is None:
                target = self.dataflow_id() or self.name
                _run_cli(self._cli("stop", target, "--grace-duration", f"{grace:g}s"),
                         self.env, grace * 1.5 + 10.0, self.cwd)
                _end(self.main, signal.SIGINT, grace)
            if self.pump is not None:
                self.pump.join(2.0)
        finally:
            if not self.external and self.services:
                if self.services[0].poll() is None:
                    _run_cli(self._cli("down", "--force"), self.env, 15.0, self.cwd)
                for proc in self.services:
                    _end(proc, signal.SIGTERM, 3.0)

    def list_dataflows(self) -> list[dict[str, object]]:
        """``dora list`` as JSON records (for diagnostics and tests)."""
        out = _run_cli(self._cli("list", "-f", "json"), self.env, 10.0, self.cwd)
        records: list[dict[str, object]] = []
        for line in out.stdout.splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict):
                    records.append(rec)
        return records


def processes_with_token(env_key: str, token: str) -> list[int]:
    """PIDs of this user's processes whose environment holds ``env_key=token``."""
    needle = f"{env_key}={token}".encode()
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if needle in data.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep(env_key: str, token: str) -> list[int]:
    """Kill (SIGKILL) every process still carrying the run token; returns their pids."""
    if not os.path.isdir("/proc"):
        return []
    pids = processes_with_token(env_key, token)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


class Guard:
    """The run's watchdog process (see :mod:`.guard`): cleans up if the owner dies."""

    def __init__(self, tmpdir: Path, env_key: str, token: str) -> None:
        script = Path(__file__).with_name("guard.py")
        env = {k: v for k, v in os.environ.items() if k != env_key}
        try:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-I", "-S", str(script), str(tmpdir), env_key, token],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
                start_new_session=True)
        except OSError as exc:
            raise BackendError(f"cannot start the run's guard process: {exc.strerror}",
                               hint="check that the Python interpreter can start "
                                    "another process") from None

    def release(self) -> None:
        """The run ended and was cleaned up: tell the guard to exit, and reap it."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.write(b"done\n")
                stdin.flush()
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
