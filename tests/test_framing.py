"""Framed channels (portable mode, and systems without ``SOCK_SEQPACKET`` such as macOS):
frames over byte streams with partial writes and reads, rings announced by name and
cleaned up, and real pipelines in a process from which Linux's own services were removed
(the closest to macOS that Linux can run).

The whole multiprocessing suite also runs over framed channels in portable mode
(``tests/conftest.py``), including the channel tests of ``test_mp_transport.py``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from retriever.contract.wire import MessageCodec
from retriever.rt.transport import (
    ControlLink,
    backing,
    channel_pair,
    control_pair,
    open_in,
    open_out,
)
from retriever.rt.transport.framing import (
    FramedInChannel,
    FramedOutChannel,
    FramedSocket,
    frame,
    stream_pair,
)

from . import macos_sim

ROOT = Path(__file__).resolve().parent.parent


def _shm_names() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("retriever-")}


def _mine(names: set[str], pids: list[int]) -> set[str]:
    return {n for n in names if any(n.startswith(f"retriever-{p:x}-") for p in pids)}


def test_frames_survive_partial_writes_and_reads() -> None:
    a, b = stream_pair(buffer=8192)  # small kernel buffers: frames are cut in pieces
    tx, rx = FramedSocket(a), FramedSocket(b)
    sizes = [1, 7, 20_000, 3, 50_000, 0, 4096, 12_345] * 6
    frames = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    got: list[bytes] = []
    partial = False
    todo = list(frames)
    while todo or tx.unsent:
        while todo and tx.send(todo[0]):  # accepted whole, or not at all
            todo.pop(0)
            partial = partial or tx.unsent
        tx.flush()
        got.extend(rx.frames())
    got.extend(rx.frames())
    assert partial  # the kernel took some frames in part: the tail was finished later
    assert got == frames
    a.close()
    assert rx.frames() == [] and rx.eof
    b.close()


def _stream_pair_of_channels(*, block: bool, capacity: int, buffer: int = 1 << 16
                             ) -> tuple[FramedOutChannel, FramedInChannel]:
    a, b = stream_pair(buffer=buffer)
    out = open_out(a, block=block, capacity=capacity, nslots=2)
    inc = open_in(b, {0: MessageCodec()}, block=block, capacity=capacity)
    assert isinstance(out, FramedOutChannel) and isinstance(inc, FramedInChannel)
    out.poll()  # the consumer's greeting
    return out, inc


def _drain(out: FramedOutChannel, inc: FramedInChannel) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    while True:
        done = out.flush()
        batch = inc.receive()
        for data in batch:
            got = inc.open(data)
            assert got is not None
            msgs.append(got[2])
        if done and not batch and not out.stream.unsent:
            return msgs


def test_a_drop_channel_over_a_full_stream_keeps_the_newest_without_blocking() -> None:
    out, inc = _stream_pair_of_channels(block=False, capacity=4, buffer=16384)
    for i in range(300):  # the consumer reads nothing meanwhile: this must not block
        out.send(0, float(i), {"n": i, "pad": "x" * 3000})
    assert out.dropped > 0 and len(out.pending) <= 5
    ns = [m["n"] for m in _drain(out, inc)]
    assert ns == sorted(ns) and ns[-1] == 299  # whole messages, in order, the newest kept
    assert len(ns) + out.dropped + inc.dropped == 300
    out.close()
    inc.close()


def test_a_restarted_writer_or_reader_finds_the_frames_again() -> None:
    """A stream outlives half-written and half-read frames (a worker killed mid-frame):
    the successor's filler and the reader's header/trailer checks get past them."""
    a, b = stream_pair()
    dead = FramedSocket(a, 1024)
    whole = frame(b"z" * 500)
    a.send(whole[:200])  # the writer dies with a frame half written
    writer = FramedSocket(a, 1024)
    writer.lead_in(1024)  # its successor
    reader = FramedSocket(b, 1024)
    for i in range(5):
        writer.send_all(b"new %d" % i)
    assert reader.frames() == [b"new %d" % i for i in range(5)]
    assert reader.garbage > 1024  # the broken frame and the filler were skipped
    writer.send_all(b"y" * 900)
    b.recv(300)  # a reader dies having read part of a frame ...
    writer.send_all(b"after")
    successor = FramedSocket(b, 1024)
    assert successor.frames() == [b"after"]  # ... its successor starts at the next one
    del dead
    a.close()
    b.close()


def test_rings_travel_by_name_and_leave_no_name_behind() -> None:
    before = _shm_names()
    out, inc = _stream_pair_of_channels(block=False, capacity=8)
    frame = np.arange(100_000, dtype=np.uint32)
    out.send(0, 1.0, {"img": frame})
    named = _shm_names() - before
    assert len(named) == 1  # announced, not opened yet: the name is the announcement
    (msg,) = _drain(out, inc)
    np.testing.assert_array_equal(msg["img"], frame)
    assert not msg["img"].flags.writeable  # a view of the ring, no copy
    assert _shm_names() - before == set()  # the consumer opened it and removed the name
    out.send(0, 2.0, {"img": np.zeros(1 << 20, np.uint8)})  # a larger ring, never opened
    assert len(_shm_names() - before) == 1
    out.close()  # a worker hands the names to its parent: the consumer may still open
    assert len(out.unopened()) == 2 and len(_shm_names() - before) == 1
    for name in out.unopened():  # what the parent does once every worker has exited
        backing.unlink(name)
    assert _shm_names() - before == set()
    inc.close()
    del msg


def test_a_new_consumer_makes_the_producer_remove_unopened_names() -> None:
    before = _shm_names()
    a, b = stream_pair()
    out = open_out(a, block=False, capacity=8, nslots=2)
    out.send(0, 1.0, {"img": np.ones(50_000)})  # the first consumer never reads it
    assert len(_shm_names() - before) == 1
    inc = open_in(b, {0: MessageCodec()}, block=False, capacity=8)  # "restarted" consumer
    out.poll()  # its greeting
    assert _shm_names() - before == set()
    out.send(0, 2.0, {"img": np.full(50_000, 2.0)})
    msgs = [inc.open(d) for d in inc.receive()]
    assert [m[2]["img"][0] for m in msgs if m is not None] == [2.0]  # the old one is lost
    out.close(unlink=True)
    inc.close()


def test_control_links_carry_large_messages_and_see_the_peer_go() -> None:
    parent, child = control_pair(framed=True)
    assert parent.type == socket.SOCK_STREAM
    p, c = ControlLink(parent), ControlLink(child)
    blob = "y" * 300_000  # larger than one read: reassembled from pieces
    assert c.send("stats", blob) and c.send("ready", 7)
    got: list[list[Any]] = []
    while len(got) < 2:
        got += p.receive()
    assert got == [["stats", blob], ["ready", 7]]
    c.close()
    assert p.receive() == [] and p.closed
    p.close()


def test_pairs_are_datagrams_where_seqpacket_exists_unless_framing_is_asked() -> None:
    a, b = channel_pair()
    assert a.type == socket.SOCK_SEQPACKET
    a.close()
    b.close()
    a, b = channel_pair(framed=True)
    assert a.type == socket.SOCK_STREAM
    a.close()
    b.close()


def test_pipelines_run_where_linux_services_are_missing(tmp_path: Path) -> None:
    """Simulated macOS: ``sitecustomize`` removes SOCK_SEQPACKET, the ``send_fds`` /
    ``recv_fds`` helpers, memfd, epoll, MADV_HUGEPAGE and prctl in the test's process and
    in every process it spawns, before retriever is imported. Portable mode is chosen by
    itself (workers forked by a fork server, which passes descriptors with ``sendmsg``
    and ``SCM_RIGHTS`` as macOS can; framed channels, POSIX shm by name, a ``selectors``
    waiter: poll here, kqueue on a real Mac, which Linux cannot run). A chain, a fan-in
    and frames in shared memory (with a consumer and a producer killed and restarted,
    forked again by the server) deliver what they should, and
    nothing is left in /dev/shm, even when a producer and then its consumer are killed
    with a ring named but never opened and the parent may not list /dev/shm (macOS)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(macos_sim.SITE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETRIEVER_MP_", "RETRIEVER_TEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    before = _shm_names()
    done = subprocess.run([sys.executable, "-c", macos_sim.COMMAND, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    gone = dict.fromkeys(("SOCK_SEQPACKET", "send_fds", "memfd_create", "epoll"), False)
    assert out["parent"] == gone
    # descriptor passing is sendmsg/recvmsg with SCM_RIGHTS, which macOS has: the
    # workers are forked by a fork server (restarts included)
    assert out["options"] == ["forkserver", True, True, "posix", "selectors"]

    chain = out["chain"]
    assert chain["error"] is None and chain["finals"] == 1
    assert len(chain["values"]) >= 10
    assert chain["values"] == list(range(1, len(chain["values"]) + 1))

    fan = out["fanin"]
    assert len(fan) >= 10
    assert all(r["linux"] == gone and r["waiter"] == "selectors" and r["shm"] == "posix"
               for r in fan)  # the workers saw no Linux services either
    servers = {r["up"] for r in fan}  # forked by one fork server, not by the script
    assert len(servers) == 1 and out["script"] not in servers
    for field, unit in (("x", 1.0), ("v", 0.5)):  # both producers, every arrival seen
        seen = [r[field] for r in fan if r[field] is not None]
        assert len(seen) >= 10 and seen == sorted(seen)
        assert sorted(set(seen)) == [unit * k for k in range(1, len(set(seen)) + 1)]

    frames = out["frames"]
    assert frames["error"] is None and frames["restarts"] == [1, 1]
    rows = frames["rows"]
    assert all(ok and shape == [480, 640, 3] for _, ok, shape, _ in rows)
    assert len({me for *_, me in rows}) == 2  # two consumer incarnations delivered
    indices = [i for i, *_ in rows]
    resets = [k for k in range(1, len(indices)) if indices[k] <= indices[k - 1]]
    assert len(resets) == 1 and indices[resets[0]] <= 3  # the producer restarted from 1

    # the producer died with a ring named and unopened, its consumer was killed before
    # opening it, and /dev/shm was not listed: the names reported at creation did it
    assert out["orphan_named"] and "SIGKILL" in out["orphan_error"]
    assert out["orphan_left"] == []
    assert _mine(_shm_names() - before, out["pids"]) == set()
