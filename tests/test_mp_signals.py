"""Ctrl-C, SIGTERM, a parent killed outright and an interpreter exit without stop():
every flow is finalized and no worker process or shared memory survives."""

from __future__ import annotations

import multiprocessing.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from retriever.flow import Latest, Pipeline, Rate, Trigger

from . import mp_flows as F
from .fault_support import shm_entries, wait_until

ROOT = Path(__file__).resolve().parent.parent

# The script restores Python's own SIGINT handler first: a process started with SIGINT
# ignored (a test runner started in the background by a non-interactive shell, as some CI
# runners do) passes that on, and Python then never raises KeyboardInterrupt.
SCRIPT = textwrap.dedent("""
    import json, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {root!r})
    from retriever.flow import Latest, Pipeline, Rate, Tick, Trigger
    from tests import mp_flows as F

    out, mode = sys.argv[1], sys.argv[2]
    with Pipeline("signals") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        sink = (F.NumLog(out + "/sink.log") @ Trigger("value", "pid")).named("sink")
        ticker = (F.TickLog(out + "/tick.log") @ Tick(hz=20)).named("ticker")
        pipe.connect(src, sink, sync=Latest())
    if mode == "blocking":
        pipe.run(backend="multiprocessing", duration=60)
    else:
        handle = pipe.run(backend="multiprocessing", blocking=False)
        with open(out + "/pids.json", "w") as fh:
            json.dump(list(handle.pids.values()), fh)
        if mode == "hang":
            time.sleep(600)
    # mode "exit": fall off the end with the run still going
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _start(tmp_path: Path, mode: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "run_it.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_rows(tmp_path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # every worker logged (the ticker too: _worker_pids reads both logs)
        if (len(F.read_log(tmp_path / "sink.log")[0]) >= 3
                and F.read_log(tmp_path / "tick.log")[0]):
            return
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def _worker_pids(tmp_path: Path) -> set[int]:
    sink = {r["me"] for r in F.read_log(tmp_path / "sink.log")[0]}
    tick = {r["me"] for r in F.read_log(tmp_path / "tick.log")[0]}
    src = {r["src"] for r in F.read_log(tmp_path / "sink.log")[0]}
    return sink | tick | src


def _assert_finalized_and_gone(tmp_path: Path, pids: set[int]) -> None:
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)], "workers outlived the run"
    assert len(F.read_log(tmp_path / "sink.log")[1]) == 1
    assert len(F.read_log(tmp_path / "tick.log")[1]) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_finalize_every_flow(tmp_path: Path, sig: int) -> None:
    shm = shm_entries()  # only names a run makes: other programs come and go
    proc = _start(tmp_path, "blocking")
    try:
        _wait_for_rows(tmp_path, proc)
        pids = _worker_pids(tmp_path)
        assert len(pids) == 3 and proc.pid not in pids
        proc.send_signal(sig)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    _assert_finalized_and_gone(tmp_path, pids)
    assert shm_entries() <= shm


def test_parent_killed_outright(tmp_path: Path) -> None:
    shm = shm_entries()  # only names a run makes: other programs come and go
    proc = _start(tmp_path, "hang")
    try:
        _wait_for_rows(tmp_path, proc)
        import json

        pids = set(json.loads((tmp_path / "pids.json").read_text()))
        assert len(pids) == 3
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the workers notice that their parent is gone, stop cleanly and exit by themselves
    _assert_finalized_and_gone(tmp_path, pids)
    assert shm_entries() <= shm


def test_unstopped_handle_does_not_hang_exit(tmp_path: Path) -> None:
    proc = _start(tmp_path, "exit")
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    import json

    pids = set(json.loads((tmp_path / "pids.json").read_text()))
    _assert_finalized_and_gone(tmp_path, pids)


def test_ctrl_c_reaching_a_worker_as_it_starts_is_discarded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C goes to the whole process group: one that reaches a worker before its
    first instruction (forked or spawned, at the start or at a restart) must not kill
    it. Each worker here gets SIGINT the moment it exists."""
    real_fork, real_spawn = os.fork, multiprocessing.util.spawnv_passfds

    def fork() -> int:
        pid = real_fork()
        if pid:
            os.kill(pid, signal.SIGINT)
        return pid

    def spawn(path: Any, args: Any, fds: Any) -> int:
        pid = real_spawn(path, args, fds)
        os.kill(pid, signal.SIGINT)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", spawn)
    marker = str(tmp_path / "crashed")
    with Pipeline("ctrl-c-at-start") as pipe:
        src = (F.Crasher(at=3, marker=marker) @ Rate(hz=50)).named("src").restart_policy(
            "on-failure", max_restarts=1, window=30)
        sink = (F.NumLog(str(tmp_path / "sink.log")) @ Trigger("value", "pid")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    try:  # the restarted source got its SIGINT as it started too
        wait_until(lambda: not handle.running or len(
            {r["src"] for r in F.read_log(tmp_path / "sink.log")[0]}) == 2,
            "values from the restarted source (or the end of the run)")
    finally:
        report = handle.stop()
    assert report.error is None and report.flows["src"].restarts == 1
    assert len(F.read_log(tmp_path / "sink.log")[1]) == 1
