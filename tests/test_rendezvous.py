"""The loopback transport (Windows): connections made after start, checked by token, and
real pipelines in a process from which what Windows lacks was removed (the closest to
Windows that Linux can run; see ``tests/windows_sim.py`` for what is and is not
simulated)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import BackendError, ConfigError
from retriever.contract.wire import encode
from retriever.flow import EdgeConfig, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.start import resolve
from retriever.rt.transport import rendezvous
from retriever.rt.transport.channel import _HDR
from retriever.rt.transport.framedchannel import FramedInChannel, FramedOutChannel
from retriever.rt.transport.framing import FramedSocket, frame
from retriever.rt.transport.rendezvous import Rendezvous

from . import windows_sim
from .fault_support import children, wait_until
from .mp_flows import Counter, NumLog, read_log

ROOT = Path(__file__).resolve().parent.parent


def _key(fields: list[Any]) -> Any:
    return fields[0] if len(fields) == 1 else None


def test_a_wrong_token_is_refused_and_the_right_one_accepted() -> None:
    rv = Rendezvous()
    try:
        bad = rendezvous.connect(rv.port, b"x" * 32, "w")
        with pytest.raises(BackendError, match="wrong token"):
            rendezvous.accept_intro(rv.listener, rv.token, "the test")
        assert bad.recv(1) == b""  # refused: closed at once
        bad.close()
        good = rendezvous.connect(rv.port, rv.token, "w")
        sock, fields = rendezvous.accept_intro(rv.listener, rv.token, "the test")
        assert fields == ["w"]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        sock.close()
        good.close()
    finally:
        rv.close()


@pytest.mark.parametrize("payload", [
    b"not a frame at all, just bytes" * 4,
    frame(b"\xc1"),  # a frame, but not msgspec
    frame(encode(["hi", b"t"])),  # not an introduction
    frame(encode(["hello", "a string token"])),
])
def test_malformed_introductions_are_refused(payload: bytes) -> None:
    rv = Rendezvous()
    try:
        with socket.create_connection((rendezvous.HOST, rv.port)) as raw:
            raw.sendall(payload)
            raw.shutdown(socket.SHUT_WR)
            with pytest.raises(BackendError, match=r"introduce|token"):
                rendezvous.accept_intro(rv.listener, rv.token, "the test")
    finally:
        rv.close()


def test_accepting_skips_intruders_and_waits_for_the_workers() -> None:
    """A stranger with a wrong token, or one claiming an unexpected name, is dropped;
    the expected connections are still accepted."""
    rv = Rendezvous()
    socks: list[socket.socket] = []

    def clients() -> None:
        socks.append(rendezvous.connect(rv.port, b"\0" * 32, "a"))
        socks.append(rendezvous.connect(rv.port, rv.token, "zzz"))
        socks.append(rendezvous.connect(rv.port, rv.token, "a"))
        socks.append(rendezvous.connect(rv.port, rv.token, "b"))

    t = threading.Thread(target=clients)
    t.start()
    try:
        got = rendezvous.accept_all(rv.listener, rv.token, {"a", "b"}, _key,
                                    where="the test", timeout=10)
        t.join()
        assert sorted(got) == ["a", "b"]
        for s in got.values():
            s.close()
    finally:
        for s in socks:
            s.close()
        rv.close()


def test_accepting_stops_when_a_process_waited_for_died() -> None:
    rv = Rendezvous()

    def dead() -> None:
        raise BackendError("it exited")
    try:
        with pytest.raises(BackendError, match="it exited"):
            rendezvous.accept_all(rv.listener, rv.token, {"a"}, _key, where="the test",
                                  alive=dead, timeout=10)
        with pytest.raises(BackendError, match="no connection came"):
            rendezvous.accept_all(rv.listener, rv.token, {"a"}, _key, where="the test",
                                  timeout=0.05)
    finally:
        rv.close()


def test_the_transport_is_chosen_by_platform_or_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rendezvous.TRANSPORT_ENV, raising=False)
    monkeypatch.delenv("RETRIEVER_MP_PORTABLE", raising=False)
    monkeypatch.delenv("RETRIEVER_MP_START_METHOD", raising=False)
    assert rendezvous.transport() == "inherit"
    assert not resolve().loopback
    monkeypatch.setenv(rendezvous.TRANSPORT_ENV, "loopback")
    opts = resolve()
    assert (opts.method, opts.portable, opts.loopback, opts.framed, opts.waiter) == (
        "spawn", True, True, True, "selectors")
    with pytest.raises(ConfigError, match="fork"):
        resolve(start_method="fork")
    with pytest.raises(ConfigError, match="portable mode"):
        resolve(portable=False)
    monkeypatch.setenv(rendezvous.TRANSPORT_ENV, "pigeons")
    with pytest.raises(ConfigError, match="pigeons"):
        rendezvous.transport()
    monkeypatch.setenv(rendezvous.TRANSPORT_ENV, "inherit")
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(ConfigError, match="Windows"):
        rendezvous.transport()
    monkeypatch.delenv(rendezvous.TRANSPORT_ENV)
    assert rendezvous.transport() == "loopback"


def _restart_run(tmp_path: Path, victim: str, *, block: bool = False,
                 intruders: bool = False) -> tuple[Any, list[dict[str, Any]], int]:
    """Counter ``a`` -> NumLog ``b`` over loopback with ``victim`` under restart policy
    on-failure; ``victim`` is killed after five values and the run stopped once five
    values went through its successor. Returns the report, the rows and the victim's
    first pid."""
    log = tmp_path / "b.log"
    with Pipeline("restart") as pipe:
        a = (Counter() @ Rate(hz=100)).named("a")
        b = (NumLog(str(log)) @ Trigger("value", "pid")).named("b")
        (a if victim == "a" else b).restart_policy("on-failure", max_restarts=2)
        pipe.connect(a, b, sync=Latest(),
                     edge_config=EdgeConfig(qsize=4, on_full="block") if block else None)
    handle = pipe.run(backend="multiprocessing", blocking=False)
    silent: list[socket.socket] = []
    try:
        wait_until(lambda: len(read_log(log)[0]) >= 5, "five values")
        if intruders:  # at the listeners the survivors keep: refused, the run goes on
            for port in handle._ports.values():  # type: ignore[attr-defined]
                for payload in (b"garbage" * 8, frame(encode(["hello", b"t" * 32, "chan", 0]))):
                    with socket.create_connection(("127.0.0.1", port)) as s:
                        s.sendall(payload)
                # and one that says nothing, open through the restart
                silent.append(socket.create_connection(("127.0.0.1", port)))
        first = handle.pids[victim]  # type: ignore[attr-defined]
        os.kill(first, signal.SIGKILL)
        key = "src" if victim == "a" else "me"
        wait_until(lambda: not handle.running or sum(
            1 for r in read_log(log)[0] if r[key] != first) >= 5, "five values after it")
    finally:
        report = handle.stop()
        for s in silent:
            s.close()
    return report, read_log(log)[0], first


@pytest.mark.parametrize("block", [False, True])
def test_a_killed_source_is_restarted_and_its_consumer_reconnected(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, block: bool) -> None:
    """Loopback on Linux: the consumer keeps its end of the channel while the source
    is gone and accepts its successor's connection (token checked: intruders with a
    wrong token or a malformed introduction are refused meanwhile)."""
    monkeypatch.setenv(rendezvous.TRANSPORT_ENV, "loopback")
    kids = children()
    report, rows, first = _restart_run(tmp_path, "a", block=block, intruders=True)
    assert report.error is None
    assert report.flows["a"].restarts == 1 and report.flows["b"].restarts == 0
    later = [r["v"] for r in rows if r["src"] != first]
    assert len(later) >= 5 and later == sorted(later) and later[0] <= 3  # from 1 again
    assert len({r["me"] for r in rows}) == 1  # one consumer throughout
    assert children() == kids


@pytest.mark.parametrize("block", [False, True])
def test_a_killed_consumer_is_restarted_and_keeps_receiving(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, block: bool) -> None:
    """Loopback on Linux: the source keeps its end while the consumer is gone (sends
    queue by the channel's policy; ``block``: the source waits for credit, and
    accepts the successor's connection while it waits)."""
    monkeypatch.setenv(rendezvous.TRANSPORT_ENV, "loopback")
    kids = children()
    report, rows, first = _restart_run(tmp_path, "b", block=block)
    assert report.error is None
    assert report.flows["b"].restarts == 1 and report.flows["a"].restarts == 0
    before = [r["v"] for r in rows if r["me"] == first]
    after = [r["v"] for r in rows if r["me"] != first]
    assert len(after) >= 5 and after == sorted(after) and after[0] > before[-1]
    assert len({r["src"] for r in rows}) == 1  # one source throughout
    assert children() == kids


def _shm_names() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("retriever-")}


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no reaper collected counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _simulated_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(windows_sim.SITE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETRIEVER_MP_", "RETRIEVER_TEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    env[rendezvous.TRANSPORT_ENV] = "loopback"  # sys.platform stays linux
    return env


def test_pipelines_run_where_windows_services_are_missing(tmp_path: Path) -> None:
    """Simulated Windows: in a process (and its workers) without Unix sockets,
    descriptor passing, fork, memfd, epoll or poll, where ``select`` takes only sockets,
    the loopback transport runs a chain, a fan-in and 640x480 frames through shared
    memory; no worker inherited a descriptor; a killed worker fails the run with a clear
    error, or, under a restart policy, is restarted and reconnected to its live peers
    (a source, and a consumer of frames); nothing is left in /dev/shm and no process
    outlives the runs."""
    env = _simulated_env(tmp_path)
    before = _shm_names()
    done = subprocess.run([sys.executable, "-c", windows_sim.COMMAND, str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    gone = dict.fromkeys(("AF_UNIX", "send_fds", "sendmsg", "fork", "memfd_create", "epoll",
                          "poll", "fcntl", "pipes_waitable"), False)
    assert {k: out["parent"][k] for k in gone} == gone
    assert out["options"] == ["spawn", True, True, True, "posix", "selectors"]

    chain = out["chain"]
    assert chain["error"] is None and chain["finals"] == 1
    assert len(chain["values"]) >= 10
    assert chain["values"] == list(range(1, len(chain["values"]) + 1))

    fan = out["fanin"]
    assert fan["error"] is None and len(fan["rows"]) >= 10
    for r in fan["rows"]:  # the worker saw none of it either, and inherited nothing
        assert {k: r["seen"][k] for k in gone} == gone
        assert r["seen"]["inherited"] == [] and r["seen"]["token_env"] is False
        assert r["seen"]["selector"] == "SelectSelector"  # as on Windows
    for field, unit in (("x", 1.0), ("v", 0.5)):  # both producers, every arrival seen
        seen = [r[field] for r in fan["rows"] if r[field] is not None]
        assert len(seen) >= 10 and seen == sorted(seen)
        assert sorted(set(seen)) == [unit * k for k in range(1, len(set(seen)) + 1)]

    frames = out["frames"]
    assert len(frames) >= 10
    assert all(ok and shape == [480, 640, 3] for _, ok, shape in frames)
    assert [i for i, *_ in frames] == sorted(i for i, *_ in frames)
    assert "SIGKILL" in out["killed_error"] and "'chk'" in out["killed_error"]

    # a killed source under a restart policy is restarted: the consumer sees values of
    # the new incarnation (counting from 1 again); a killed consumer of frames is
    # restarted and keeps receiving intact frames through newly announced rings
    src = out["restart_source"]
    assert src["error"] is None and src["restarts"] == {"a": 1, "chk": 0}
    later = [r["v"] for r in src["rows"] if r["src"] != src["first"]]
    assert len(later) >= 5 and later == list(range(later[0], later[0] + len(later)))
    assert later[0] <= 3  # (the consumer keeps the newest value: it may skip the first)
    assert src["finals"] == 1
    sink = out["restart_sink"]
    assert sink["error"] is None and sink["restarts"] == {"a": 0, "chk": 1}
    later = [r for r in sink["rows"] if r["me"] != sink["first"]]
    assert len(later) >= 5 and all(r["ok"] and r["shape"] == [480, 640, 3] for r in later)
    assert [r["i"] for r in later] == sorted(r["i"] for r in later)
    assert later[0]["i"] > max(r["i"] for r in sink["rows"] if r["me"] == sink["first"])
    assert sink["finals"] == 1  # the first incarnation was killed: only its successor

    assert out["children"] == []
    assert len(out["pids"]) >= 4 and not any(_alive(p) for p in out["pids"])
    leaked = {n for n in _shm_names() - before
              if any(n.startswith(f"retriever-{p:x}-") for p in out["pids"])}
    assert leaked == set()


def test_workers_stop_when_their_parent_dies(tmp_path: Path) -> None:
    """Simulated Windows: the parent is killed with SIGKILL mid-run; its workers see
    their watch connections end, finalize their flows and exit."""
    done = subprocess.run([sys.executable, "-c", windows_sim.ORPHAN, str(tmp_path)],
                          env=_simulated_env(tmp_path), capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == -9, done.stderr
    pids = json.loads(done.stdout.splitlines()[-1])
    assert len(pids) == 2
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    rows, finals = read_log(tmp_path / "orphan.log")
    assert len(rows) >= 5 and len(finals) == 1  # the sink was finalized


def _reset_pair() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection whose far end was closed with data unread: the kernel
    resets it (what a killed worker's peer sees)."""
    lst = rendezvous.listen()
    a = socket.create_connection(lst.getsockname())
    b, _ = lst.accept()
    lst.close()
    a.sendall(b"unread")
    time.sleep(0.05)
    b.close()  # data unread: RST
    time.sleep(0.05)
    return a, b


def test_a_channel_whose_peer_died_sees_end_of_file_and_refuses_what_it_sends() -> None:
    a, _ = _reset_pair()
    stream = FramedSocket(a, tolerant=True)
    assert stream.frames() == [] and stream.eof  # reset: end of file, no error
    # not taken (a producer's channel queues it for the peer's successor)
    assert not stream.send(b"x" * 100) and not stream.unsent
    stream.send_all(b"y")  # dropped too, no error
    a.close()
    a, _ = _reset_pair()
    strict = FramedSocket(a)  # control links: the caller learns of it from the error
    with pytest.raises(OSError):
        for _ in range(3):
            strict.send_all(b"z" * 1000)
            time.sleep(0.02)
    a.close()


def _tcp_channel() -> tuple[socket.socket, socket.socket]:
    lst = rendezvous.listen()
    a = socket.create_connection(lst.getsockname())
    b, _ = lst.accept()
    lst.close()
    return a, b


def test_a_producer_queues_by_its_policy_while_its_consumer_is_gone_and_flushes_to_the_next(
        ) -> None:
    """The channel ends a restart over loopback relies on (``rejoin.py``): a ``drop``
    channel whose consumer died keeps the newest ``capacity`` messages (older ones
    counted as dropped) and sends them to the consumer's successor after its greeting;
    a consumer moved to a new producer greets it."""
    a, b = _tcp_channel()
    out = FramedOutChannel(a, block=False, capacity=3)
    first = FramedInChannel(b, {}, block=False, capacity=64)
    out.send(0, 1.0, {"v": 1})
    assert [_HDR.unpack_from(d, 0)[3] for d in _drain(first)] == [1.0]
    b.close()  # the consumer dies
    out.poll()  # its greeting, then end of file
    for _ in range(20):
        if out.stream.eof:
            break
        time.sleep(0.01)
        out.poll()
    assert out.stream.eof
    hold_a, hold_b = socket.socketpair()
    out.reconnect(hold_a, gone=True)  # parked, as rejoin.py does
    for i in range(2, 8):
        out.send(0, float(i), {"v": i})
    assert out.dropped == 3 and len(out.pending) == 3 and out.flush()  # nothing to write to
    c, d = _tcp_channel()
    out.reconnect(c)
    second = FramedInChannel(d, {}, block=False, capacity=64)  # the successor greets
    got: list[float] = []
    for _ in range(100):
        out.poll()
        out.flush()
        got += [_HDR.unpack_from(x, 0)[3] for x in _drain(second)]
        if len(got) >= 3:
            break
        time.sleep(0.01)
    assert got == [5.0, 6.0, 7.0]  # the newest three, in order
    second.reconnect(hold_b)  # a consumer moved to another connection greets at once
    assert hold_a.recv(4096)  # its greeting
    for s in (a, c, d, hold_a, hold_b):
        s.close()


def _drain(inc: FramedInChannel) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(50):
        got = inc.receive()
        out += got
        if got:
            return out
        time.sleep(0.01)
    return out


def test_an_introduction_read_while_running_never_blocks_nor_reads_past_itself() -> None:
    """What a survivor runs for a restarted peer's connection (``rejoin.py``): a
    partial introduction is waited for without blocking, the bytes after it stay in the
    socket for the channel, and garbage, a wrong token or a closed connection is
    refused."""
    token = rendezvous.new_token()
    a, b = _tcp_channel()
    intro = rendezvous.Introduction(b, token, "the test")
    whole = frame(encode(["hello", token, "chan", 7])) + b"channel data"
    assert intro.read() is None  # nothing yet: no wait
    a.sendall(whole[:5])
    time.sleep(0.02)
    assert intro.read() is None  # half a header
    a.sendall(whole[5:])
    time.sleep(0.02)
    assert intro.read() == ["chan", 7]
    assert b.recv(100) == b"channel data"  # left for the channel
    a.close()
    b.close()
    for payload in (b"garbage" * 8, frame(encode(["hello", b"t" * 32, "chan", 7])), b""):
        a, b = _tcp_channel()
        intro = rendezvous.Introduction(b, token, "the test")
        if payload:
            a.sendall(payload)
        else:
            a.close()
        time.sleep(0.02)
        with pytest.raises(BackendError):
            intro.read()
        a.close()
        b.close()
