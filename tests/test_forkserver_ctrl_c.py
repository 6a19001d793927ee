"""Ctrl-C while the fork server forks the workers (portable mode).

A terminal's Ctrl-C goes to the whole foreground process group: the parent, the fork
server and every worker it forked. The server ignores ``SIGINT`` from its first
instruction (it starts with the signal blocked, :func:`.proc.sigint_held`), and its
workers inherit that, so only the parent acts on it: the run stops as Ctrl-C is
documented to stop it (docs/backends-multiprocessing.md, "Cleanup guarantees"): every
flow that was started is finalized, every process exits, ``run()`` raises
``KeyboardInterrupt``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from . import mp_flows as F
from .fault_support import alive, shm_entries, wait_until

ROOT = Path(__file__).resolve().parent.parent

# Loaded by every interpreter of the test's process group (PYTHONPATH): in the only
# one that calls os.fork, the fork server, a SIGINT goes to the whole group right
# after the second worker is forked, while it takes its first steps and before the
# server answered the parent, the worst moment for all three.
SITE = textwrap.dedent("""
    import os, signal
    _fork, _count = os.fork, [0]

    def fork():
        pid = _fork()
        if pid:
            _count[0] += 1
            with open(os.environ["FSRV_TEST_OUT"] + "/forked", "a") as fh:
                fh.write(f"{os.getpid()} {pid}\\n")
            if _count[0] == 2:
                os.killpg(os.getpgrp(), signal.SIGINT)
        return pid

    os.fork = fork
""")

SCRIPT = textwrap.dedent("""
    import json, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_mp_signals
    sys.path.insert(0, {root!r})
    from retriever.flow import Latest, Pipeline, Rate, Tick, Trigger
    from retriever.rt.backends.multiprocessing import forkserver as fs
    from tests import mp_flows as F

    out = sys.argv[1]
    close = fs.ForkServer.close

    def record(self, timeout=5.0):  # how the server ended, for the test
        close(self, timeout)
        with open(out + "/server.json", "w") as fh:
            json.dump([self.pid, self._status], fh)

    fs.ForkServer.close = record
    with Pipeline("ctrl-c-while-forking") as pipe:
        for name in ("a", "b", "c"):
            (F.TickLog(out + "/" + name + ".log") @ Tick(hz=20)).named(name)
    try:
        pipe.run(backend="multiprocessing", duration=60, portable=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(3)
""")


def test_ctrl_c_while_the_fork_server_forks_stops_the_run_cleanly(tmp_path: Path) -> None:
    shm = shm_entries()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    script = tmp_path / "run_it.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    env = dict(os.environ, PYTHONPATH=str(site), FSRV_TEST_OUT=str(tmp_path))
    env.pop("RETRIEVER_MP_START_METHOD", None)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # a process group of its own
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3 and "INTERRUPTED" in out, out
    forked = [line.split() for line in (tmp_path / "forked").read_text().splitlines()]
    servers = {int(s) for s, _ in forked}
    workers = [int(w) for _, w in forked]
    assert len(forked) >= 2 and len(servers) == 1, forked
    server, status = json.loads((tmp_path / "server.json").read_text())
    assert servers == {server}
    # the server was not killed by the SIGINT: it exited when the run closed its link
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
    # no worker was killed either: each one finalized the flow it had started
    finals = {p for n in "abc" for p in F.read_log(tmp_path / f"{n}.log")[1]}
    assert set(workers) <= finals, (workers, finals, out)
    assert "Traceback" not in out.replace("KeyboardInterrupt", ""), out
    wait_until(lambda: not any(alive(p) for p in [server, *workers]), "every process gone")
    assert shm_entries() <= shm
