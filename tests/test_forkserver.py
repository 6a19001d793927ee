"""The ``forkserver`` start method (portable mode's default where ``fork`` exists): one
fresh interpreter per run forks every worker, restarts included, and goes away with the
run or with its parent; it imports only what a spawned worker would be granted.

The whole multiprocessing suite runs through the fork server in portable mode
(``tests/conftest.py``); these tests check what that cannot see: who forked whom, and
what is left after the run."""

from __future__ import annotations

import errno
import json
import multiprocessing.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import BackendError, FlowError
from retriever.flow import Flow, Latest, Pipeline, Rate, Tick, Trigger
from retriever.ir.execution import as_execution_graph
from retriever.ir.lower import lower
from retriever.rt.backends.multiprocessing import forkserver as fs
from retriever.rt.backends.multiprocessing.plan import WaitOptions

from . import mp_flows as F
from .core_flows import Source
from .fault_support import Leaks, alive, children, wait_until

ROOT = Path(__file__).resolve().parent.parent


class ParentLog(F._Log, Flow[None, None]):
    """Logs its own pid and its parent's."""

    def step(self, _: None) -> None:
        self.write(me=os.getpid(), parent=os.getppid())


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])


def _pipeline(tmp: Path, restart: bool = False) -> Pipeline:
    with Pipeline("forkserver") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        if restart:
            src.restart_policy("on-failure", max_restarts=1, window=30)
        sink = (F.NumLog(str(tmp / "sink.log")) @ Trigger("value", "pid")).named("sink")
        pipe.connect(src, sink, sync=Latest())
        (ParentLog(str(tmp / "parents.log")) @ Tick(hz=20)).named("who")
    return pipe


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_portable_workers_come_from_one_fork_server_unless_spawn_is_asked(
        tmp_path: Path, method: str) -> None:
    leaks = Leaks()
    pipe = _pipeline(tmp_path)
    options: dict[str, Any] = {"start_method": "spawn"} if method == "spawn" else {}
    handle: Any = pipe.run(backend="multiprocessing", blocking=False, portable=True,
                           **options)
    try:
        wait_until(lambda: len(F.read_log(tmp_path / "sink.log")[0]) >= 5, "values")
        pids = set(handle.pids.values())
        parents = {_ppid(p) for p in pids}
    finally:
        report = handle.stop()
    assert report.error is None
    rows, finals = F.read_log(tmp_path / "sink.log")
    values = [r["v"] for r in rows]
    assert values == list(range(1, len(values) + 1)) and len(finals) == 1
    if method == "spawn":  # each worker is a child of ours
        assert parents == {os.getpid()}
    else:  # one server, itself a child of ours, forked all three
        assert len(parents) == 1 and os.getpid() not in parents
        server = parents.pop()
        assert not alive(server)  # reaped when the run ended
    assert len(F.read_log(tmp_path / "parents.log")[1]) == 1  # finalized
    leaks.assert_clean()  # no process, /dev/shm name or temp entry left


def test_a_killed_worker_is_forked_again_by_the_server(tmp_path: Path) -> None:
    leaks = Leaks()
    pipe = _pipeline(tmp_path, restart=True)
    handle: Any = pipe.run(backend="multiprocessing", blocking=False, portable=True)
    log = tmp_path / "sink.log"
    try:
        wait_until(lambda: len(F.read_log(log)[0]) >= 3, "values")
        first = handle.pids["src"]
        server = _ppid(first)
        assert server != os.getpid() and server in children()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len({r["src"] for r in F.read_log(log)[0]}) == 2,
                   "values from the restarted source")
        second = handle.pids["src"]
        assert second != first and _ppid(second) == server
    finally:
        report = handle.stop()
    assert report.error is None and report.flows["src"].restarts == 1
    srcs = [r["src"] for r in F.read_log(log)[0]]
    assert srcs[0] == first and srcs[-1] == second
    assert not alive(server)
    leaks.assert_clean()


SCRIPT = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    from retriever.flow import Latest, Pipeline, Rate, Trigger
    from tests import mp_flows as F

    with Pipeline("orphans") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        sink = (F.NumLog(sys.argv[1] + "/sink.log") @ Trigger("value", "pid")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False, portable=True)
    with open(sys.argv[1] + "/pids.json", "w") as fh:
        json.dump(list(handle.pids.values()), fh)
    time.sleep(600)
""")


def test_the_fork_server_and_its_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    leaks = Leaks()
    script = tmp_path / "run_it.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    try:
        wait_until(lambda: len(F.read_log(tmp_path / "sink.log")[0]) >= 3
                   or proc.poll() is not None, "values")
        workers = set(json.loads((tmp_path / "pids.json").read_text()))
        servers = {_ppid(p) for p in workers}
        assert len(servers) == 1 and servers != {proc.pid}
        proc.kill()  # SIGKILL: nothing of the parent runs any more
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    gone = workers | servers
    wait_until(lambda: not any(alive(p) for p in gone), "the server and workers exiting")
    assert len(F.read_log(tmp_path / "sink.log")[1]) == 1  # the sink still finalized
    leaks.assert_clean()


def _evil_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A one-flow graph naming ``evil_at_import:Thing``, a module that would leave a
    marker if imported, which this process has not imported."""
    marker = tmp_path / "pwned"
    (tmp_path / "evil_at_import.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from tests.core_flows import Source as Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the server gets our sys.path
    with Pipeline("evil") as pipe:
        (Source() @ Rate(hz=10)).named("src")
    text = as_execution_graph(lower(pipe)).to_json(indent=None)
    assert '"tests.core_flows:Source"' in text
    return text.replace('"tests.core_flows:Source"', '"evil_at_import:Thing"'), marker


@pytest.mark.parametrize("granted", [False, True])
def test_the_fork_server_imports_only_granted_modules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, granted: bool) -> None:
    """docs/trust.md: the server gets the grants a spawned worker would, and resolves
    the graph under them; an ungranted module is refused and never imported (granting
    it, the control case, imports it in the server before any worker is forked)."""
    graph, marker = _evil_graph(tmp_path, monkeypatch)
    trust = {"any": False, "imports": ["evil_at_import"] if granted else [], "sources": []}
    death_r, death_w = os.pipe()
    server = fs.ForkServer(graph, death_fd=death_r, shm_slots=4, waiting=WaitOptions(),
                        portable=True, trust=trust)
    parent_end, child_end = socket.socketpair()
    try:
        if not granted:
            with pytest.raises(BackendError, match="is not imported") as err:
                server.fork("p0", child_end, {})
            assert err.value.code == "RET300"
        else:
            pid = server.fork("p0", child_end, {})
            parent_end.close()  # the worker reads end of file and exits
            os.kill(pid, signal.SIGKILL)
            assert server.reap(pid) != 0
    finally:
        parent_end.close()
        child_end.close()
        server.close()
        os.close(death_w)
        os.close(death_r)
    assert marker.exists() is granted
    assert "evil_at_import" not in sys.modules  # never imported here either way
    assert not alive(server.pid)


def test_the_link_carries_more_descriptors_than_one_message_may() -> None:
    """A worker with many channels: its descriptors travel in several ``SCM_RIGHTS``
    chunks (Linux takes at most 253 per message) and arrive complete and in order,
    with the request after them still intact."""
    pipes = [os.pipe() for _ in range(125)]
    sent = [fd for pair in pipes for fd in pair]  # 250: two chunks
    a, b = socket.socketpair()
    got: list[int] = []
    try:
        fs._send(a, ["fork", "p0", list(range(len(sent) - 1)), len(sent)], sent)
        fs._send(a, ["reap", 42])
        msg = fs._recv(b, got)
        assert msg[:2] == ["fork", "p0"] and fs._more_fds(b, got, msg[3])
        assert [os.fstat(fd).st_ino for fd in got] == [os.fstat(fd).st_ino for fd in sent]
        assert fs._recv(b, got) == ["reap", 42]  # nothing of the chunks left over
    finally:
        fs._close_fds(sent + got)
        a.close()
        b.close()


# ---------------------------------------------------------------------- a server that dies

def _kill_server(handle: Any, tmp_path: Path) -> tuple[int, set[int]]:
    """SIGKILL the run's fork server once values flow (as the OOM killer would); wait
    until the run noticed (it reaps the server at once); its pid and the workers'."""
    wait_until(lambda: len(F.read_log(tmp_path / "sink.log")[0]) >= 3, "values")
    workers = set(handle.pids.values())
    (server,) = {_ppid(p) for p in workers}
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: server not in children(), "the run reaping its dead fork server")
    return server, workers


def _consecutive(rows: list[dict[str, Any]], src: int) -> list[int]:
    values = [r["v"] for r in rows if r["src"] == src]
    assert values == list(range(1, len(values) + 1)), values
    return values


def test_a_run_outlives_its_killed_fork_server(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing needs a new worker: the run goes on to its end as if nothing happened
    (the workers, orphans now, still stop in order and finalize), and says what
    happened."""
    leaks = Leaks()
    handle: Any = _pipeline(tmp_path).run(backend="multiprocessing", blocking=False,
                                          portable=True)
    try:
        server, workers = _kill_server(handle, tmp_path)
        seen = len(F.read_log(tmp_path / "sink.log")[0])
        wait_until(lambda: len(F.read_log(tmp_path / "sink.log")[0]) >= seen + 5,
                   "values after the server died")
        assert handle.running
    finally:
        report = handle.stop()
    assert report.error is None
    rows, finals = F.read_log(tmp_path / "sink.log")
    _consecutive(rows, handle.pids["src"])
    assert len(finals) == 1 and len(F.read_log(tmp_path / "parents.log")[1]) == 1
    assert f"fork server of this run (pid {server}) was killed by signal SIGKILL" \
        in caplog.text
    wait_until(lambda: not any(alive(p) for p in workers), "the orphaned workers exiting")
    leaks.assert_clean()


def test_a_worker_orphaned_by_its_fork_server_is_not_reported_as_a_clean_exit(
        tmp_path: Path) -> None:
    """Its exit status went to init: the run must not invent one (it used to say
    "exited with code 0" of a worker killed by SIGKILL)."""
    leaks = Leaks()
    handle: Any = _pipeline(tmp_path).run(backend="multiprocessing", blocking=False,
                                          portable=True)
    try:
        server, workers = _kill_server(handle, tmp_path)
        os.kill(handle.pids["sink"], signal.SIGKILL)
        wait_until(lambda: not handle.running, "the run failing")
    finally:
        handle.request_stop()
    with pytest.raises(FlowError) as info:
        handle.wait(60)
    assert info.value.flow == "sink"
    text = str(info.value)
    assert "ended without finishing; its exit status is unknown" in text, text
    assert f"fork server (pid {server}) was killed by signal SIGKILL" in text, text
    assert "exited with code 0" not in text
    assert len(F.read_log(tmp_path / "parents.log")[1]) == 1  # the others finalized
    wait_until(lambda: not any(alive(p) for p in workers), "the orphaned workers exiting")
    leaks.assert_clean()


def test_a_restart_after_the_fork_server_died_starts_a_new_server(tmp_path: Path) -> None:
    leaks = Leaks()
    handle: Any = _pipeline(tmp_path, restart=True).run(
        backend="multiprocessing", blocking=False, portable=True)
    log = tmp_path / "sink.log"
    try:
        server, workers = _kill_server(handle, tmp_path)
        first = handle.pids["src"]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len([r for r in F.read_log(log)[0] if r["src"] != first]) >= 5,
                   "values from the restarted source")
        second = handle.pids["src"]
        new_server = _ppid(second)
        assert new_server not in (server, os.getpid()) and new_server in children()
    finally:
        report = handle.stop()
    assert report.error is None and report.flows["src"].restarts == 1
    rows, finals = F.read_log(log)
    assert [r["src"] for r in rows][-1] == second and len(finals) == 1
    _consecutive(rows, first)
    assert len(_consecutive(rows, second)) >= 5
    assert not alive(new_server)
    wait_until(lambda: not any(alive(p) for p in workers), "the orphaned workers exiting")
    leaks.assert_clean()


def _spawn_fails(monkeypatch: pytest.MonkeyPatch) -> str:
    def refuse(*_: Any) -> int:
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", refuse)
    return os.strerror(errno.ENOMEM)


def _boot_fails(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(fs, "_BOOT", "import sys; sys.exit(7)")
    return "exited with code 7"


@pytest.mark.parametrize("cause", [_spawn_fails, _boot_fails])
def test_a_new_fork_server_that_cannot_start_ends_the_run_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cause: Any) -> None:
    """Bounded: one try, then one error naming the partition and both causes; the
    other workers stop in order (the sink keeps every value it got) and nothing is
    left behind."""
    leaks = Leaks()
    handle: Any = _pipeline(tmp_path, restart=True).run(
        backend="multiprocessing", blocking=False, portable=True)
    try:
        server, workers = _kill_server(handle, tmp_path)
        why = cause(monkeypatch)
        first = handle.pids["src"]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not handle.running, "the run failing")
    finally:
        handle.request_stop()
    with pytest.raises(BackendError) as info:
        handle.wait(60)
    err = info.value
    assert err.code == "RET500", repr(err)
    text = str(err)
    assert "partition 'src'" in text and why in text, text
    assert f"fork server (pid {server}) was killed by signal SIGKILL" in text, text
    rows, finals = F.read_log(tmp_path / "sink.log")
    _consecutive(rows, first)
    assert len(finals) == 1 and len(F.read_log(tmp_path / "parents.log")[1]) == 1
    assert not any(p in children() for p in workers | {server})
    wait_until(lambda: not any(alive(p) for p in workers), "the orphaned workers exiting")
    leaks.assert_clean()
