"""The multiprocessing transport in one process: zero-copy shared-memory slots, slot
pinning and reuse, backlog trimming and the per-arrival Trigger semantics end to end."""

from __future__ import annotations

import gc
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.contract.wire import MessageCodec
from retriever.flow import EdgeConfig, Latest, Pipeline, Rate, Trigger
from retriever.rt.transport import (
    InChannel,
    OutChannel,
    backing,
    channel_pair,
    open_in,
    open_out,
    shm,
)

from . import mp_flows as F


def _pair(*, block: bool = False, capacity: int = 4, nslots: int = 2
          ) -> tuple[OutChannel, InChannel]:
    # portable mode: stream sockets carrying frames, rings announced by name
    a, b = channel_pair(framed=backing.env_portable())
    out = open_out(a, block=block, capacity=capacity, nslots=nslots)
    inc = open_in(b, {0: MessageCodec()}, block=block, capacity=capacity)
    out.poll()  # take the consumer's HELLO
    return out, inc


def _receive_all(inc: InChannel) -> list[dict[str, Any]]:
    msgs = []
    for data in inc.receive():
        got = inc.open(data)
        assert got is not None
        msgs.append(got[2])
    return msgs


def _close(out: OutChannel, inc: InChannel) -> None:
    out.close()
    for name in out.unopened():  # framed (portable): names the consumer never opened
        backing.unlink(name)
    inc.close()
    out.sock.close()
    inc.sock.close()


def test_arrays_arrive_as_read_only_views_of_shared_memory() -> None:
    out, inc = _pair()
    frame = np.arange(64 * 64 * 3, dtype=np.uint16).reshape(64, 64, 3)
    strided = np.arange(4096, dtype=np.float64).reshape(64, 64)[:, ::2]  # not contiguous
    out.send(0, 1.5, {"img": frame, "half": strided, "n": 7, "small": np.ones(3)})
    (msg,) = _receive_all(inc)
    img, half = msg["img"], msg["half"]
    assert isinstance(img, np.ndarray) and isinstance(half, np.ndarray)
    np.testing.assert_array_equal(img, frame)
    np.testing.assert_array_equal(half, strided)
    assert msg["n"] == 7
    np.testing.assert_array_equal(msg["small"], np.ones(3))  # small arrays travel inline
    assert not img.flags.writeable and not img.flags.owndata  # a view, no copy
    with pytest.raises(ValueError):
        img[0, 0, 0] = 1
    _close(out, inc)


def test_a_slot_stays_pinned_until_every_view_is_collected() -> None:
    out, inc = _pair(nslots=2)
    big = np.zeros(10_000, dtype=np.uint8)
    out.send(0, 0.0, {"a": big})
    (msg,) = _receive_all(inc)
    view = msg["a"]
    assert isinstance(view, np.ndarray)
    tail = view[5000:]  # a slice keeps the slot pinned too
    ring = out.rings[0]
    del msg, view
    gc.collect()
    assert ring.free_slot() == 1  # slot 0 still pinned by ``tail``
    del tail
    gc.collect()
    assert ring.free_slot() == 0  # released: the producer reuses the warm slot
    _close(out, inc)


def test_pinned_slots_grow_the_ring_then_drop_new_messages() -> None:
    out, inc = _pair(nslots=2, capacity=64)
    held = []
    for i in range(8):  # 4 x 2 slots at most
        out.send(0, float(i), {"a": np.full(5000, i, dtype=np.uint8)})
        held.extend(_receive_all(inc))
    assert len(held) == 8 and len(out.rings) == 4
    out.send(0, 9.0, {"a": np.zeros(5000, dtype=np.uint8)})  # every slot pinned
    assert out.dropped == 1 and _receive_all(inc) == []
    assert [int(m["a"][0]) for m in held] == list(range(8))  # nothing was overwritten
    held.clear()
    gc.collect()
    out.send(0, 10.0, {"a": np.full(5000, 10, dtype=np.uint8)})
    (msg,) = _receive_all(inc)
    assert int(msg["a"][0]) == 10
    _close(out, inc)


def test_a_consumer_that_fell_behind_keeps_the_newest_messages() -> None:
    out, inc = _pair(capacity=2, nslots=4)
    for i in range(6):
        out.send(0, float(i), {"n": i, "a": np.full(5000, i, dtype=np.uint8)})
    msgs = _receive_all(inc)
    assert [m["n"] for m in msgs] == [4, 5]
    assert inc.dropped == 4
    del msgs
    gc.collect()
    assert all(r.free_slot() >= 0 for r in out.rings)  # dropped messages freed their slots
    _close(out, inc)


def test_a_larger_array_replaces_the_ring() -> None:
    out, inc = _pair()
    out.send(0, 0.0, {"a": np.ones(5000, dtype=np.uint8)})
    first = _receive_all(inc)
    out.send(0, 1.0, {"a": np.full(50_000, 3, dtype=np.uint8)})
    second = _receive_all(inc)
    assert int(second[0]["a"].sum()) == 150_000
    assert int(first[0]["a"].sum()) == 5000  # the retired ring stays mapped while pinned
    assert len(out.rings) == 1
    _close(out, inc)


def test_trigger_sink_that_keeps_up_sees_every_message(tmp_path: Path) -> None:
    """Each arrival triggers its own step; the queue only limits how far behind the sink
    may fall before the oldest waiting messages are dropped."""
    log = tmp_path / "all.log"
    with Pipeline("every") as pipe:
        src = (F.Counter() @ Rate(hz=200)).named("src")
        sink = (F.NumLog(str(log)) @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest(), edge_config=EdgeConfig(qsize=64))
    report = pipe.run(backend="multiprocessing", duration=0.6)
    values = [r["v"] for r in F.read_log(log)[0]]
    assert len(values) >= 20
    assert values == list(range(1, len(values) + 1))
    assert report.flows["sink"].steps == len(values)
    assert report.flows["sink"].dropped == 0



def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.fixture(params=["madvise", "touch"])
def prefault_how(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pre-faulting with ``MADV_POPULATE_WRITE``, or the fallback for kernels and
    systems without it (write one byte per page of an unused slot)."""
    if request.param == "touch":
        monkeypatch.setattr(shm, "MADV_POPULATE_WRITE", None)
    how: str = request.param
    return how


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fault counts: Linux")
def test_a_slot_is_backed_by_memory_before_its_first_frame(prefault_how: str) -> None:
    ring = shm.ShmRing(1, 3, 1 << 20)  # 256 pages per slot
    frame = np.full(1 << 20, 7, np.uint8)
    try:
        for slot in range(3):
            if slot:
                ring.warm_next()  # what a channel does once a message went out
            gen = ring.begin(slot)
            before = _minor_faults()
            ring.write_array(slot, 0, frame)
            assert _minor_faults() - before < 16, f"slot {slot} faulted while written"
            ring.commit(slot, gen)
    finally:
        ring.close()


def test_prefaulting_keeps_every_frame_intact(prefault_how: str) -> None:
    """Slots are pre-faulted one per send while a subscriber holds the frames of the
    others: not a byte of those may change."""
    out, inc = _pair(nslots=4, capacity=64)
    shape = (256, 256, 4)
    frames = [((np.arange(256 * 256 * 4, dtype=np.uint32) * 3 + n) % 253).astype(
        np.uint8).reshape(shape) for n in range(6)]
    held = []
    for n in range(4):  # each frame takes a new slot: the subscriber keeps them all
        out.send(0, float(n), {"a": frames[n], "n": n})
        held.extend(_receive_all(inc))
    assert len(out.rings) == 1 and [m["n"] for m in held] == [0, 1, 2, 3]
    del held[1:3]  # slots 1 and 2 come back and are reused
    gc.collect()
    for n in (4, 5):
        out.send(0, float(n), {"a": frames[n], "n": n})
        held.extend(_receive_all(inc))
    for m in held:
        np.testing.assert_array_equal(m["a"], frames[m["n"]])
    assert [m["n"] for m in held] == [0, 3, 4, 5]
    _close(out, inc)
