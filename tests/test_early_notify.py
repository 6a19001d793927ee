"""Early notification of large copies (rt/transport/early.py): the datagram goes out
before the copy, and the consumer never lets a flow see a message before its slot is
committed, never waits for a copy that failed or a producer that died, and keeps every
frame intact end to end. No timings are asserted."""

from __future__ import annotations

import gc
import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.contract.wire import MessageCodec
from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.rt.transport import (
    InChannel,
    OutChannel,
    backing,
    channel_pair,
    early,
    open_in,
    open_out,
)
from retriever.rt.transport.framing import seqpacket_available
from retriever.rt.transport.shm import ShmRing

from . import mp_flows as F

pytestmark = pytest.mark.skipif(not seqpacket_available(),
                                reason="early notification needs datagram channels")

SIZE = early.EARLY_MIN + 4096  # just large enough to be announced early


def _pair(nslots: int = 3, *, framed: bool = False) -> tuple[OutChannel, InChannel]:
    a, b = channel_pair(framed=framed)
    out = open_out(a, block=False, capacity=64, nslots=nslots)
    inc = open_in(b, {0: MessageCodec()}, block=False, capacity=64)
    out.poll()  # take the consumer's greeting
    return out, inc


def _close(out: OutChannel, inc: InChannel) -> None:
    gc.collect()
    out.close()
    inc.close()
    out.sock.close()
    inc.sock.close()


def _frame(n: int) -> np.ndarray:
    return np.full(SIZE, n % 251, np.uint8)


def _intact(msg: dict[str, Any]) -> bool:
    img = msg["a"]
    return bool(img[0] == msg["n"] % 251 and img.min() == img.max())


def _take(inc: InChannel) -> list[dict[str, Any]]:
    """What the worker does with a readable channel: parked messages first, then the
    new datagrams, the last one waited for."""
    batch = inc.receive()
    got = [m[2] for m in inc.unparked(final=bool(batch))]
    for i, data in enumerate(batch):
        opened = inc.open(data, wait=i == len(batch) - 1)
        if opened is not None:
            got.append(opened[2])
    return got


def test_large_frames_go_early_and_held_ones_are_never_overwritten() -> None:
    out, inc = _pair(nslots=3)
    held: list[dict[str, Any]] = []
    try:
        for n in range(8):
            out.send(0, float(n), {"a": _frame(n), "n": n})
            msgs = _take(inc)
            assert [m["n"] for m in msgs] == [n]
            held += msgs
            held = [m for m in held if m["n"] % 3 == 0]  # keep some, let the rest go
            gc.collect()
        # the first copy has no duration to announce yet; every later one goes early
        assert out.sent_early == 7
        assert [m["n"] for m in held] == [0, 3, 6]
        assert all(_intact(m) and not m["a"].flags.writeable for m in held)
    finally:
        held.clear()
        _close(out, inc)


def test_small_arrays_and_framed_channels_are_never_early() -> None:
    out, inc = _pair()
    for n in range(3):
        out.send(0, float(n), {"a": np.full(early.EARLY_MIN // 2, n, np.uint8), "n": n})
    assert out.sent_early == 0 and len(_take(inc)) == 3
    _close(out, inc)
    out, inc = _pair(framed=True)  # portable mode: notified after the copy as before
    for n in range(3):
        out.send(0, float(n), {"a": _frame(n), "n": n})
    assert out.sent_early == 0 and [m["n"] for m in _take(inc)] == [0, 1, 2]
    _close(out, inc)


def test_the_switch_turns_early_notification_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(early.EARLY_ENV, "0")
    out, inc = _pair()
    for n in range(3):
        out.send(0, float(n), {"a": _frame(n), "n": n})
    assert out.sent_early == 0
    assert [m["n"] for m in _take(inc)] == [0, 1, 2]
    _close(out, inc)


def test_the_consumer_waits_for_a_copy_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """The producer is held mid-copy on another thread: the consumer holds the message
    back (waiting, or parked) and delivers it, intact, once committed."""
    out, inc = _pair()
    out.send(0, 0.0, {"a": _frame(0), "n": 0})  # learns how long a copy takes
    assert [m["n"] for m in _take(inc)] == [0]
    copying, go = threading.Event(), threading.Event()
    write = ShmRing.write_array

    def slow_write(self: ShmRing, slot: int, offset: int, arr: np.ndarray,
                   **kw: bool) -> None:
        copying.set()
        go.wait(5)
        write(self, slot, offset, arr, **kw)

    monkeypatch.setattr(ShmRing, "write_array", slow_write)
    producer = threading.Thread(target=out.send, args=(0, 1.0, {"a": _frame(1), "n": 1}))
    producer.start()
    try:
        assert copying.wait(5)
        (data,) = inc.receive()  # announced, not copied yet
        assert inc.open(data, wait=False) is None  # a later datagram would mean failure
        assert inc.dropped == 1
        # the same message again, this time waited for: the copy is released meanwhile
        threading.Timer(0.001, go.set).start()
        got = inc.open(data)
        msgs = [got[2]] if got is not None else []
        producer.join(5)
        msgs += [m[2] for m in inc.unparked(final=False)]
        assert [m["n"] for m in msgs] == [1] and _intact(msgs[0])
        assert not inc.parked
    finally:
        go.set()
        producer.join(5)
        _close(out, inc)


def test_a_failed_copy_is_given_up_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out, inc = _pair(nslots=2)
    out.send(0, 0.0, {"a": _frame(0), "n": 0})
    _take(inc)
    write = ShmRing.write_array

    def broken(self: ShmRing, slot: int, offset: int, arr: np.ndarray, **kw: bool) -> None:
        raise KeyboardInterrupt  # e.g. a signal while copying

    monkeypatch.setattr(ShmRing, "write_array", broken)
    with pytest.raises(KeyboardInterrupt):
        out.send(0, 1.0, {"a": _frame(1), "n": 1})
    monkeypatch.setattr(ShmRing, "write_array", write)
    assert _take(inc) == [] and inc.dropped == 1 and not inc.parked
    for n in (2, 3, 4):  # the slot came back: the ring neither grows nor drops
        out.send(0, float(n), {"a": _frame(n), "n": n})
        (msg,) = _take(inc)
        assert msg["n"] == n and _intact(msg)
    assert len(out.rings) == 1 and out.dropped == 0
    _close(out, inc)


def test_a_producer_that_dies_mid_copy_does_not_hang_the_consumer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Announced, never committed (the producer was killed): the consumer parks the
    message and drops it when the next datagram arrives or when it is too old."""
    out, inc = _pair(nslots=3)
    out.send(0, 0.0, {"a": _frame(0), "n": 0})
    _take(inc)
    commit = ShmRing.commit
    monkeypatch.setattr(ShmRing, "commit", lambda self, slot, gen: None)
    out.send(0, 1.0, {"a": _frame(1), "n": 1})
    monkeypatch.setattr(ShmRing, "commit", commit)
    assert _take(inc) == [] and len(inc.parked) == 1  # waited a bounded time, then parked
    assert inc.unparked(final=False) == [] and len(inc.parked) == 1
    monkeypatch.setattr(early, "PARK_LIMIT", 0.0)
    assert inc.unparked(final=False) == [] and not inc.parked and inc.dropped == 1
    # and a successor's datagram settles a parked message at once
    monkeypatch.setattr(ShmRing, "commit", lambda self, slot, gen: None)
    out.send(0, 2.0, {"a": _frame(2), "n": 2})
    monkeypatch.setattr(ShmRing, "commit", commit)
    monkeypatch.setattr(early, "PARK_LIMIT", 60.0)
    assert _take(inc) == [] and len(inc.parked) == 1
    out.send(0, 3.0, {"a": _frame(3), "n": 3})
    msgs = _take(inc)
    assert [m["n"] for m in msgs] == [3] and _intact(msgs[0]) and not inc.parked
    assert inc.dropped == 2
    _close(out, inc)


@pytest.mark.parametrize("on", ["1", "0"])
def test_frames_arrive_intact_across_processes(tmp_path: Path, on: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run, 2.7 MB frames (announced early unless switched off): every frame
    the sink sees is whole and they arrive in order."""
    monkeypatch.setenv(early.EARLY_ENV, on)
    log = tmp_path / "frames.log"
    with Pipeline("early") as pipe:
        cam = (F.FrameSource(720, 1280) @ Rate(hz=60)).named("cam")
        sink = (F.FrameLog(str(log)) @ Trigger("image", "index", "stamp")).named("sink")
        pipe.connect(cam, sink, sync=Latest())
    pipe.run(backend="multiprocessing", duration=0.6)
    rows = [r for r in F.read_log(log)[0] if "i" in r]
    assert len(rows) >= 5
    assert all(r["ok"] and r["shape"] == [720, 1280, 3] for r in rows)
    seen = [r["i"] for r in rows]
    assert seen == sorted(seen)


_write_array = ShmRing.write_array


def _killed_mid_copy(marker: str) -> Any:
    """A ``ShmRing.write_array`` that kills its process (once per marker file) while
    copying its sixth large frame, after the frame was announced early."""
    calls = [0]

    def write(self: ShmRing, slot: int, offset: int, arr: np.ndarray, **kw: bool) -> None:
        if arr.nbytes >= early.EARLY_MIN:
            calls[0] += 1
            path = Path(marker)
            if calls[0] == 6 and not path.exists():
                path.write_text("x")
                half = arr.reshape(-1)[: arr.nbytes // 2]
                _write_array(self, slot, offset, half, **kw)  # half a frame, then SIGKILL
                os.kill(os.getpid(), signal.SIGKILL)
        _write_array(self, slot, offset, arr, **kw)
    return write


def test_a_source_killed_mid_copy_neither_hangs_nor_corrupts_the_sink(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The source's worker dies by SIGKILL halfway through copying a frame it already
    announced; it is restarted. The sink's worker must not wait for that frame for
    ever, must never show it, and goes on with the new incarnation's frames."""
    if backing.env_portable():
        pytest.skip("portable mode: framed channels never announce early")
    marker = str(tmp_path / "killed")
    monkeypatch.setattr(ShmRing, "write_array", _killed_mid_copy(marker))  # inherited by fork
    log = tmp_path / "frames.log"
    with Pipeline("early-kill") as pipe:
        cam = (F.FrameSource(720, 1280) @ Rate(hz=60)).named("cam").restart_policy(
            "on-failure", max_restarts=2, window=30)
        sink = (F.FrameLog(str(log)) @ Trigger("image", "index", "stamp")).named("sink")
        pipe.connect(cam, sink, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=1.5)
    assert Path(marker).exists() and report.flows["cam"].restarts == 1
    rows = [r for r in F.read_log(log)[0] if "i" in r]
    assert all(r["ok"] for r in rows)
    indices = [r["i"] for r in rows]
    assert 6 not in indices[:6]  # the frame being copied when its source died
    restart = next(k for k in range(1, len(indices)) if indices[k] <= indices[k - 1])
    assert indices[restart:][:3] == [1, 2, 3]  # the new incarnation's frames arrive
