"""Start methods and portable mode of the multiprocessing backend: option validation,
the portable shared-memory backing and waiters, and spawned workers (which inherit no
memory: flows are rebuilt from the IR, ``__main__`` scripts included).

The whole multiprocessing suite also runs in portable mode (see ``tests/conftest.py``);
these tests cover what that cannot: the pieces on their own and explicit choices."""

from __future__ import annotations

import importlib
import json
import mmap
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import ConfigError
from retriever.flow import Flow, Latest, Pipeline, Tick, Trigger
from retriever.ir.execution import as_execution_graph
from retriever.ir.lower import lower
from retriever.ir.resolve import granted
from retriever.rt.backends.multiprocessing import start
from retriever.rt.backends.multiprocessing.start import START_ENV, resolve, vetted
from retriever.rt.transport import backing, wait

from . import mp_flows as F

ROOT = Path(__file__).resolve().parent.parent


class WhoAmI(Flow[None, None]):
    """Writes how its worker process was started and which shm backing it uses."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        Path(self.path).write_text(json.dumps({
            "argv0": sys.argv[0], "backing": backing.kind(), "ppid": os.getppid()}))

    def step(self, _: None) -> None:
        pass


def _shm_names() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if "retriever" in n}


# ---------------------------------------------------------------------- options

def test_platform_defaults_and_the_portable_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backing.PORTABLE_ENV, raising=False)
    monkeypatch.delenv(START_ENV, raising=False)
    native = resolve()
    assert (native.method, native.portable, native.shm, native.waiter) == \
        ("fork", False, "memfd", "epoll")  # Linux
    portable = resolve(portable=True)
    assert (portable.method, portable.shm, portable.waiter) == \
        ("forkserver", "posix", "selectors")  # a fork server where fork exists
    monkeypatch.setenv(backing.PORTABLE_ENV, "1")
    assert resolve() == portable
    assert resolve(portable=False) == native  # the run option wins over the environment
    assert resolve(start_method="fork").method == "fork"  # so does an explicit method
    monkeypatch.setenv(START_ENV, "spawn")
    monkeypatch.delenv(backing.PORTABLE_ENV)
    assert (resolve().method, resolve().portable) == ("spawn", False)


@pytest.mark.parametrize("options, env, named", [
    ({"start_method": "vfork"}, {}, "start_method"),
    ({"portable": "yes"}, {}, "portable"),
    ({}, {START_ENV: "posix_spawn"}, START_ENV),
    ({}, {backing.PORTABLE_ENV: "maybe"}, backing.PORTABLE_ENV),
])
def test_bad_start_options_are_refused_before_any_process_starts(
        options: dict[str, Any], env: dict[str, str], named: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with Pipeline("bad") as pipe:
        (F.TickLog("/nonexistent/never-written.log") @ Tick(hz=10)).named("tick")
    with pytest.raises(ConfigError) as err:
        pipe.run(backend="multiprocessing", duration=0.1, **options)
    assert named in str(err.value)


def test_a_system_without_linux_services_chooses_portable_mode_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no SOCK_SEQPACKET, memfd or epoll: portable mode (spawn, framed
    channels) is chosen without being asked; asking for native mode there is an error."""
    monkeypatch.delenv(backing.PORTABLE_ENV, raising=False)
    monkeypatch.delenv(START_ENV, raising=False)
    assert start.missing_native() == []  # here, on Linux
    assert not resolve().framed
    monkeypatch.setattr(start, "seqpacket_available", lambda: False)
    assert start.missing_native() == ["SOCK_SEQPACKET"]
    chosen = resolve()
    assert (chosen.method, chosen.portable, chosen.framed, chosen.shm) == \
        ("forkserver", True, True, "posix")
    with pytest.raises(ConfigError) as err:
        resolve(portable=False)
    assert "SOCK_SEQPACKET" in str(err.value) and "automatically" in str(err.value)


def test_windows_gets_the_loopback_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where descriptors cannot be inherited, workers connect back over TCP loopback
    (simulated end to end in ``tests/test_rendezvous.py``)."""
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delenv("RETRIEVER_MP_TRANSPORT", raising=False)
    chosen = resolve()
    assert (chosen.method, chosen.portable, chosen.loopback, chosen.waiter) == \
        ("spawn", True, True, "selectors")


# ---------------------------------------------------------------------- pieces

def test_posix_backing_is_shared_and_never_named(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _shm_names()
    backing.configure(True)
    try:
        fd = backing.create("test", 1 << 16)
    finally:
        backing.configure(None)
    assert _shm_names() == before  # unlinked before anyone could see it
    try:
        mine = mmap.mmap(fd, 1 << 16)
        pid = os.fork()
        if pid == 0:  # another process maps the same descriptor and writes
            theirs = mmap.mmap(fd, 1 << 16)
            theirs[100:105] = b"hello"
            os._exit(0)
        os.waitpid(pid, 0)
        assert mine[100:105] == b"hello"
        mine.close()
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", wait.KINDS)
def test_every_waiter_reports_readable_sockets_only(kind: str) -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    waiter = wait.make_waiter(kind)
    try:
        waiter.register(b.fileno())
        waiter.register(d.fileno())
        assert waiter.poll(0.0) == []
        a.send(b"x")
        ready = waiter.poll(1.0)
        assert [fd for fd, _ in ready] == [b.fileno()]
        assert waiter.slack >= 0.0
    finally:
        waiter.close()
        for s in (a, b, c, d):
            s.close()


# ---------------------------------------------------------------------- spawned runs

def test_spawned_workers_rebuild_flows_and_stream_frames(tmp_path: Path) -> None:
    """spawn with the native services: a fresh interpreter per worker, memfd rings."""
    with Pipeline("spawned") as pipe:
        cam = (F.FrameSource(120, 160) @ Tick(hz=50)).named("cam")
        sink = (F.FrameLog(str(tmp_path / "frames.log")) @ Trigger("image", "index", "stamp")
                ).named("sink")
        pipe.connect(cam, sink, sync=Latest())
        (WhoAmI(str(tmp_path / "who.json")) @ Tick(hz=5)).named("who")
    report = pipe.run(backend="multiprocessing", duration=0.5, start_method="spawn",
                      portable=False)
    assert report.error is None
    rows, finals = F.read_log(tmp_path / "frames.log")
    assert len(rows) >= 5 and all(r["ok"] for r in rows) and len(finals) == 1
    who = json.loads((tmp_path / "who.json").read_text())
    assert who == {"argv0": "-c", "backing": "memfd", "ppid": os.getpid()}


SCRIPT = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {root!r})
    from retriever.flow import Flow, Latest, Pipeline, Tick, Trigger, io
    from retriever.rt.transport import backing

    @io
    class Hello:
        n: int

    class Greeter(Flow[None, Hello]):
        def reset(self) -> None:
            self.n = 0

        def step(self, _: None) -> Hello:
            self.n += 1
            return Hello(n=self.n)

    class Writer(Flow[Hello, None]):
        def __init__(self, path: str) -> None:
            self.path = path

        def step(self, inp: Hello) -> None:
            with open(self.path, "a") as fh:
                fh.write(json.dumps([inp.n, sys.argv[0], backing.kind()]) + "\\n")

    if __name__ == "__main__":
        with Pipeline("script") as pipe:
            g = (Greeter() @ Tick(hz=50)).named("greeter")
            w = (Writer(sys.argv[1]) @ Trigger("n")).named("writer")
            pipe.connect(g, w, sync=Latest())
        pipe.run(backend="multiprocessing", duration=0.5)
        print("main block ran", os.getpid())
""")


def test_portable_mode_runs_flows_defined_in_a_main_script(tmp_path: Path) -> None:
    """The classic trap of spawn (macOS, Windows): flows defined in the script run as
    ``__main__``. Workers load them from the file without running its main block."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, **{backing.PORTABLE_ENV: "1"})
    done = subprocess.run([sys.executable, str(script), str(out)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("main block ran") == 1  # only in the parent
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 5
    assert [n for n, _, _ in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    assert {(argv0, kind) for _, argv0, kind in rows} == {("-c", "posix")}


def test_names_of_a_worker_killed_mid_creation_are_swept() -> None:
    """A worker killed between shm_open and shm_unlink leaves a name; the parent
    removes the names of that worker's pid (and only those) when it reaps it."""
    shm: Any = importlib.import_module("_posixshmem")  # CPython's, without type stubs
    dead, other = 0x7FFFFFF0, 0x7FFFFFF1  # pids no process has here
    names = [f"/retriever-{dead:x}-1", f"/retriever-{dead:x}-2", f"/retriever-{other:x}-1"]
    for name in names:
        os.close(shm.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    try:
        assert sorted(backing.sweep(dead)) == sorted(n[1:] for n in names[:2])
        assert _shm_names() >= {names[2][1:]} and not _shm_names() & {n[1:] for n in names[:2]}
    finally:
        for name in names:
            try:
                shm.shm_unlink(name)
            except FileNotFoundError:
                pass


def test_a_spawned_worker_may_import_only_what_the_parent_vetted() -> None:
    """docs/trust.md: an IR may not import modules on its own. A spawned worker gets
    the modules the graph names that the parent has imported (and checked), nothing
    more, unless the parent itself was granted more."""
    with Pipeline("trust") as pipe:
        src = (F.Counter() @ Tick(hz=10)).named("src")
        sink = (F.NumLog("/nonexistent/never.log") @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    trust = vetted(as_execution_graph(lower(pipe)))
    any_module, packages, files = granted()  # what earlier code of this process granted
    assert trust["imports"] == sorted({"tests.mp_flows", *packages})
    assert trust["sources"] == files and trust["any"] is any_module
