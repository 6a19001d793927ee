"""Leftovers of dora runs whose owner and guard were both killed: only dead runs' go.

The removal itself needs no dora (fake run directories with owner records); the last
test checks that a real dora run removes them before it starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from retriever.rt.backends.dora import stale
from retriever.rt.backends.dora.compile import ENV_RUN

from . import dora_flows as F
from .fault_support import alive


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run_dir(root: Path, name: str, token: str, processes: list[list[object]],
             created: float | None = None) -> Path:
    d = root / f"{stale.PREFIX}{name}"
    (d / "status").mkdir(parents=True)
    (d / "dataflow.yml").write_text("nodes: []\n")
    record = {"token": token, "created": time.time() if created is None else created,
              "processes": processes}
    (d / stale.OWNER_FILE).write_text(json.dumps(record))
    return d


def test_start_time_names_one_process() -> None:
    me = stale.start_time(os.getpid())
    assert me is not None and me == stale.start_time(os.getpid())
    assert stale.start_time(_dead_pid()) is None


def test_only_runs_whose_owner_and_guard_are_gone_are_removed(tmp_path: Path) -> None:
    mine = [os.getpid(), stale.start_time(os.getpid())]
    dead = [_dead_pid(), "12345"]
    gone = _run_dir(tmp_path, "gone", "tok-gone", [dead, [_dead_pid(), "1"]])
    live = _run_dir(tmp_path, "live", "tok-live", [dead, mine])  # its guard still runs
    # our pid, but another start time: the pid was reused after the owner died
    reused = _run_dir(tmp_path, "reused", "tok-reused", [[os.getpid(), "1"]])
    unrecorded = tmp_path / f"{stale.PREFIX}norecord"  # older version, or being made
    unrecorded.mkdir()
    a_file = tmp_path / f"{stale.PREFIX}basic.json"  # not a run directory
    a_file.write_text("{}")
    removed = stale.remove_stale(ENV_RUN, root=str(tmp_path), shm_dir=str(tmp_path / "shm"))
    assert sorted(removed) == sorted([str(gone), str(reused)])
    assert not gone.exists() and not reused.exists()
    assert live.exists() and (live / stale.OWNER_FILE).exists()
    assert unrecorded.exists() and a_file.exists()


def test_a_dead_runs_processes_and_unused_segments_go_with_it(tmp_path: Path) -> None:
    token = "tok-leftover"
    # a process of the dead run (a node dora did not stop): it carries the run token
    node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            env={**os.environ, ENV_RUN: token})
    try:
        shm = tmp_path / "shm"
        shm.mkdir()
        created = time.time()
        unused = shm / "222.zenoh"
        unused.write_bytes(b"x")
        held = shm / "333.zenoh"  # still open by a live process: in use
        held.write_bytes(b"x")
        other = shm / "444.other"  # not a zenoh segment
        other.write_bytes(b"x")
        gone = _run_dir(tmp_path, "gone", token, [[_dead_pid(), "1"]], created=created)
        with open(held, "rb"):
            removed = stale.remove_stale(ENV_RUN, root=str(tmp_path), shm_dir=str(shm))
        assert removed == [str(gone)] and not gone.exists()
        node.wait(10)  # killed
        assert node.returncode == -9
        assert not unused.exists() and held.exists() and other.exists()
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


def test_segments_made_before_the_dead_run_began_are_not_its_own(tmp_path: Path) -> None:
    seg = tmp_path / "555.zenoh"
    seg.write_bytes(b"x")
    assert stale.remove_unused_segments(str(tmp_path), time.time() + 5) == []
    assert seg.exists()
    assert stale.remove_unused_segments(str(tmp_path), time.time() - 5) == [str(seg)]


def test_a_torn_or_foreign_record_is_never_taken_for_dead(tmp_path: Path) -> None:
    d = tmp_path / f"{stale.PREFIX}torn"
    d.mkdir()
    (d / stale.OWNER_FILE).write_text('{"token": "x", "proc')  # cut short
    odd = _run_dir(tmp_path, "odd", "tok", [["not-a-pid"]])
    assert stale.remove_stale(ENV_RUN, root=str(tmp_path), shm_dir=str(tmp_path)) == []
    assert d.exists() and odd.exists()


@pytest.mark.skipif(not F.dora_installed(),
                    reason="dora-rs / dora-rs-cli / pyarrow not installed")
def test_a_dora_run_removes_dead_runs_leftovers_first(tmp_path: Path) -> None:
    root = Path(tempfile.gettempdir())
    me = [os.getpid(), stale.start_time(os.getpid())]
    gone = _run_dir(root, f"test-gone-{os.getpid()}", "tok-test-gone", [[_dead_pid(), "1"]])
    live = _run_dir(root, f"test-live-{os.getpid()}", "tok-test-live", [me])
    try:
        out = tmp_path / "out.json"
        handle = F.basic(str(out)).run(backend="dora", duration=0.3, blocking=False,
                                       echo=False)
        try:
            assert not gone.exists()  # before the run started anything
            assert live.exists()
            record = stale.read_owner(handle.tmp)  # type: ignore[attr-defined]
            assert record is not None and stale.owner_alive(record)
            pids = [p for p, _ in record["processes"]]
            assert pids[0] == os.getpid() and alive(pids[1])  # owner and guard
        finally:
            handle.wait(90)
        F.assert_clean(handle)
        assert live.exists()
    finally:
        for d in (gone, live):
            if d.exists():
                shutil.rmtree(d)
