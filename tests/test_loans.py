"""Loaned output arrays (``Flow.loan``): content intact on every backend, no slot leaks,
and every misuse refused with a typed error before a subscriber sees a wrong frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.contract.errors import FlowError, LoanError
from retriever.contract.wire import MessageCodec
from retriever.flow import EdgeConfig, Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.rt.loan import LoanDesk
from retriever.rt.transport import InChannel, OutChannel, channel_pair
from retriever.rt.transport.loan import SlotLender, send_lent

from .dora_flows import dora_installed

SHAPE = (32, 48, 3)  # just above SHM_MIN: travels in a slot, stays small
SMALL = (32, 32, 4)  # 4096 bytes: the smallest array that travels in a slot


@io
class Frame:
    image: np.ndarray
    n: int


@io
class Pair:
    left: np.ndarray
    right: np.ndarray


def pattern(n: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """A frame whose every byte depends on ``n`` and its position."""
    return ((np.arange(int(np.prod(shape)), dtype=np.uint32) * 7 + n) % 251).astype(
        np.uint8).reshape(shape)


class LoanCam(Flow[None, Frame]):
    def __init__(self, keep_every: int = 0) -> None:
        self.keep_every = keep_every  # hold every n-th published loan for a while

    def reset(self) -> None:
        self.n = 0
        self.kept: list[np.ndarray] = []

    def step(self, _: None) -> Frame | None:
        self.n += 1
        img = self.loan("image", SHAPE, np.uint8)
        np.copyto(img, pattern(self.n))
        if self.n % 5 == 0:
            return None  # an unpublished loan goes back after the step
        if self.keep_every and self.n % self.keep_every == 0:
            self.kept = [*self.kept[-2:], img]  # kept (read-only) loans stay readable
        for old in self.kept:
            assert old[0, 0, 0] == old[0, 0, 0]
        return Frame(image=img, n=self.n)


class Checker(Flow[Frame, None]):
    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.seen = 0
        self.bad = 0
        self.writable = 0
        self.keep: list[np.ndarray] = []

    def step(self, inp: Frame) -> None:
        assert inp.image is not None and inp.n is not None
        self.seen += 1
        self.writable += bool(inp.image.flags.writeable)
        if not np.array_equal(inp.image, pattern(inp.n)):
            self.bad += 1
        self.keep = [*self.keep[-3:], inp.image]  # held frames must stay intact too
        for old in self.keep:
            if old.shape != SHAPE:
                self.bad += 1

    def finalize(self) -> None:
        Path(self.path).write_text(json.dumps({"seen": self.seen, "bad": self.bad,
                                               "writable": self.writable}))


def _frames_pipe(path: Path, hz: float = 400, keep_every: int = 0) -> Pipeline:
    with Pipeline("loans") as pipe:
        cam = (LoanCam(keep_every) @ Rate(hz=hz)).named("cam")
        sink = (Checker(str(path)) @ Trigger("image", "n")).named("sink")
        pipe.connect(cam, sink, sync=Latest(), edge_config=EdgeConfig(qsize=4))
    return pipe


def test_loaned_frames_arrive_intact_on_the_stepper(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    pipe = _frames_pipe(out)
    for _ in range(20):
        pipe.step()
    pipe.close_stepper()
    got = json.loads(out.read_text())
    assert got == {"seen": 16, "bad": 0, "writable": 0}


@pytest.mark.parametrize("options", [{"policy": "per-flow"}, {"policy": "single"},
                                     {"portable": True}])
def test_loaned_frames_arrive_intact_across_processes(tmp_path: Path,
                                                      options: dict[str, Any]) -> None:
    out = tmp_path / "seen.json"
    rep = _frames_pipe(out).run(backend="multiprocessing", duration=0.6, **options)
    got = json.loads(out.read_text())
    assert got["seen"] > 20 and got["bad"] == 0 and got["writable"] == 0
    assert rep.flows["cam"].errors == 0


def test_loaned_frames_fan_out_to_two_processes(tmp_path: Path) -> None:
    # one channel gets the slot itself, the other an ordinary copy of it
    with Pipeline("loans-fan-out") as pipe:
        cam = (LoanCam() @ Rate(hz=300)).named("cam")
        for name in ("a", "b"):
            sink = (Checker(str(tmp_path / f"{name}.json")) @ Trigger("image", "n")).named(name)
            pipe.connect(cam, sink, sync=Latest(), edge_config=EdgeConfig(qsize=4))
    pipe.run(backend="multiprocessing", duration=0.6)
    for name in ("a", "b"):
        got = json.loads((tmp_path / f"{name}.json").read_text())
        assert got["seen"] > 20 and got["bad"] == 0 and got["writable"] == 0, name


@pytest.mark.parametrize("backend", ["in-process", "dora"])
def test_the_same_loaning_flow_runs_unchanged_elsewhere(tmp_path: Path, backend: str) -> None:
    if backend == "dora" and not dora_installed():
        pytest.skip("dora-rs / dora-rs-cli / pyarrow not installed")
    out = tmp_path / "seen.json"
    options: dict[str, Any] = {"echo": False} if backend == "dora" else {}
    _frames_pipe(out, hz=100).run(backend=backend, duration=1.0, **options)
    got = json.loads(out.read_text())
    assert got["seen"] > 5 and got["bad"] == 0


@pytest.mark.skipif(not dora_installed(), reason="dora-rs / dora-rs-cli not installed")
def test_loans_on_dora_arrive_intact_whether_sent_in_place_or_copied(tmp_path: Path) -> None:
    # every third loan is kept by the flow: dora cannot send that sample as it is (this
    # process still views it), so it goes as a copy; the others go in place
    out = tmp_path / "seen.json"
    _frames_pipe(out, hz=100, keep_every=3).run(backend="dora", duration=1.0, echo=False)
    got = json.loads(out.read_text())
    assert got["seen"] > 5 and got["bad"] == 0 and got["writable"] == 0


@pytest.mark.skipif(not dora_installed(), reason="dora-rs / dora-rs-cli not installed")
@pytest.mark.parametrize("how", ["view", "keep-and-write"])
def test_loan_misuse_on_dora_reaches_the_caller_as_a_loan_error(how: str) -> None:
    with pytest.raises(FlowError) as info:
        _misuse_pipe(how).run(backend="dora", duration=5.0, echo=False)
    assert isinstance(info.value, LoanError) and info.value.code == "RET402"
    assert info.value.flow == "src"


# ---------------------------------------------------------------------- channel level

def _pair(nslots: int = 4) -> tuple[OutChannel, InChannel]:
    a, b = channel_pair()
    out = OutChannel(a, block=False, capacity=64, nslots=nslots)
    inc = InChannel(b, {0: MessageCodec({"image": np.ndarray, "n": int})},
                    block=False, capacity=64)
    out.poll()
    return out, inc


def _lend(desk: LoanDesk, n: int) -> np.ndarray:
    img = desk.loan("image", SMALL, np.dtype(np.uint8))
    np.copyto(img, pattern(n, SMALL))
    return img


def test_a_published_loan_is_the_slot_the_subscriber_reads() -> None:
    out, inc = _pair()
    desk = LoanDesk("cam", ["image", "n"])
    desk.allocator = SlotLender(out)
    img = _lend(desk, 1)
    msg = {"image": img, "n": 1}
    desk.settle(msg)
    assert desk.lent and not img.flags.writeable
    ring, slot, _ = desk.lent[0].token
    send_lent(out, 0, 0.0, msg, desk)
    (data,) = inc.receive()
    got = inc.open(data)
    assert got is not None
    view = got[2]["image"]
    assert np.array_equal(view, pattern(1, SMALL)) and not view.flags.writeable
    # no copy was made: what the producer's slot holds is what the subscriber sees
    ring.lend_view(slot, 1)[0] = 250
    assert view.reshape(-1)[0] == 250
    out.close()
    inc.close()


def test_no_slot_leaks_after_ten_thousand_loans() -> None:
    out, inc = _pair()
    desk = LoanDesk("cam", ["image", "n"])
    desk.allocator = SlotLender(out)
    held: list[np.ndarray] = []
    bad = 0
    for n in range(10_000):
        img = _lend(desk, n)
        publish = n % 7 != 0  # every 7th loan is not published
        msg = {"image": img, "n": n} if publish else None
        desk.settle(msg)
        if msg is not None:
            send_lent(out, 0, 0.0, msg, desk)
        del img, msg
        for data in inc.receive():
            got = inc.open(data)
            assert got is not None
            _, _, m = got
            bad += not np.array_equal(m["image"], pattern(m["n"], SMALL))
            held = [*held[-2:], m["image"]]  # the subscriber keeps a few frames
            del got, m
    held.clear()
    assert bad == 0 and out.dropped == 0 and inc.dropped == 0
    assert len(out.rings) == 1  # never had to grow: every slot came back
    ring = out.rings[0]
    assert not ring.lent
    taken = set()
    while (slot := ring.free_slot()) >= 0:
        taken.add(slot)
        ring.lent[slot] = None  # take it to find the next free one
    assert taken == set(range(ring.nslots))
    out.close()
    inc.close()


def test_a_slot_seen_by_the_producer_is_never_reused() -> None:
    out, inc = _pair(nslots=2)
    desk = LoanDesk("cam", ["image", "n"])
    desk.allocator = SlotLender(out)
    kept = []
    for n in range(6):  # a flow of the same process keeps every published frame
        img = _lend(desk, n)
        msg = {"image": img, "n": n}
        desk.settle(msg)
        send_lent(out, 0, 0.0, msg, desk)
        kept.append(img)
        for data in inc.receive():
            inc.open(data)  # the subscriber releases at once
    assert all(np.array_equal(k, pattern(n, SMALL)) for n, k in enumerate(kept))
    out.close()
    inc.close()


# ---------------------------------------------------------------------- misuse

class Misuse(Flow[None, Pair]):
    def __init__(self, how: str) -> None:
        self.how = how

    def reset(self) -> None:
        self.kept: np.ndarray | None = None

    def step(self, _: None) -> Pair:
        how = self.how
        if how == "unknown-port":
            self.loan("center", (4, 4))
        if how == "bad-shape":
            self.loan("left", (4, -1))
        if how == "bad-dtype":
            self.loan("left", (4, 4), object)
        if how == "keep-and-write" and self.kept is not None:
            self.kept[0, 0] = 1
            return Pair(left=np.zeros((4, 4), np.uint8))
        if how == "keep-and-cv2" and self.kept is not None:
            cv2 = pytest.importorskip("cv2")
            cv2.resize(np.zeros((8, 8), np.uint8), (64, 64), dst=self.kept)
            return Pair(left=np.zeros((4, 4), np.uint8))
        if how == "republish" and self.kept is not None:
            return Pair(left=self.kept)
        arr = self.loan("left", (64, 64), np.uint8)
        arr[...] = 3
        self.kept = arr
        if how == "wrong-port":
            return Pair(right=arr)
        if how == "view":
            return Pair(left=arr[:32])
        if how == "two-ports":
            return Pair(left=arr, right=arr)
        return Pair(left=arr)


MISUSES = ["unknown-port", "bad-shape", "bad-dtype", "keep-and-write", "keep-and-cv2",
           "republish",
           "wrong-port", "view", "two-ports"]


def _misuse_pipe(how: str) -> Pipeline:
    with Pipeline("misuse") as pipe:
        src = (Misuse(how) @ Rate(hz=100)).named("src")
        sink = (Sink() @ Trigger("left")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    return pipe


class Sink(Flow[Pair, None]):
    def step(self, inp: Pair) -> None:
        pass


@pytest.mark.parametrize("how", MISUSES)
def test_misuse_is_refused_with_a_loan_error(how: str) -> None:
    pipe = _misuse_pipe(how)
    with pytest.raises(LoanError) as info:
        for _ in range(3):
            pipe.step()
    pipe.close_stepper()
    err = info.value
    assert err.code == "RET402" and err.flow == "src" and err.hint


def test_misuse_in_a_worker_reaches_the_caller_as_a_loan_error() -> None:
    with pytest.raises(FlowError) as info:
        _misuse_pipe("view").run(backend="multiprocessing", duration=2.0)
    assert isinstance(info.value, LoanError) and info.value.code == "RET402"
    assert info.value.flow == "src"


def test_a_live_flow_leaves_the_run_without_its_loan_desk() -> None:
    flow = Misuse("ok")
    with Pipeline("live") as pipe:
        src = (flow @ Rate(hz=100)).named("src")
        pipe.connect(src, (Sink() @ Trigger("left")).named("sink"), sync=Latest())
    pipe.step()
    assert flow.kept is not None and not flow.kept.flags.writeable  # published: read-only
    pipe.close_stepper()
    out: Any = flow.step(None)  # after the run: plain memory, no checks left behind
    assert out.left.flags.writeable


def test_loan_outside_a_runtime_is_plain_memory() -> None:
    flow = Misuse("ok")
    flow.reset()
    out: Any = flow.step(None)
    assert out.left.shape == (64, 64) and out.left.flags.writeable
    with pytest.raises(LoanError):
        flow.loan("left", (2.5, 3))
