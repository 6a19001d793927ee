"""The hand-over from the recording process to its writer: frames through shared-memory
slots or (larger than a slot) the pipe, in order, and backpressure when the writer lags."""

from __future__ import annotations

import os
import queue
import select
import threading
from pathlib import Path

import msgspec
import numpy as np
import pytest

from retriever.flow import Flow, Pipeline, Rate, io
from retriever.record import RecordConfig, open_recording
from retriever.record.handover import FRAME_BYTES, SLOT_BYTES, SLOTS, Handover


def _echo_writer(h: Handover, out_fd: int, hold: int) -> None:
    """Child: wait until ``hold`` is readable, then receive every frame and write a
    digest of each item in it to ``out_fd``."""
    frames: queue.Queue[bytearray | None] = queue.Queue()
    os.read(hold, 1)
    h.receive(lambda: True, frames)
    while (f := frames.get()) is not None:
        for item in msgspec.msgpack.decode(f):
            os.write(out_fd, f"{len(item)}:{item[0]}:{item[-1]}\n".encode())


def _fork_echo_writer(h: Handover) -> tuple[int, int, int]:
    """(pid, the hold pipe's write end, the digests' read end)."""
    hold_r, hold_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            h.writer_side()
            os.close(out_r)
            _echo_writer(h, out_w, hold_r)
            code = 0
        finally:
            os._exit(code)
    h.parent_side()
    os.close(out_w)
    return pid, hold_w, out_r


def _digests(pid: int, out_r: int) -> list[str]:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(out_r) as got:
        return got.read().split()


@pytest.mark.parametrize("size", [1000, SLOT_BYTES - 16, SLOT_BYTES + 1, 3 * SLOT_BYTES])
def test_frames_arrive_whole_and_in_order_while_the_writer_lags(size: int) -> None:
    waits: list[int] = []

    def wait(fd: int) -> None:
        waits.append(fd)
        select.select([fd], [], [])

    h = Handover(wait)
    pid, hold_w, out_r = _fork_echo_writer(h)
    n = SLOTS + 3
    # the writer starts reading 0.2 s late: by then every slot is held
    release = threading.Timer(0.2, os.write, (hold_w, b"x"))
    release.start()
    try:
        for k in range(n):
            h.add(msgspec.msgpack.encode(bytes([k]) * size))
            h.flush()  # one frame per item, so that each takes a slot
        h.end()
        lines = _digests(pid, out_r)
    finally:
        h.close()
    assert lines == [f"{size}:{k}:{k}" for k in range(n)]
    # a lagging writer holds every slot: the sender waited instead of dropping
    assert bool(waits) == (size <= SLOT_BYTES)


def test_items_share_frames_and_overflow_into_the_next_slot() -> None:
    h = Handover()
    pid, hold_w, out_r = _fork_echo_writer(h)
    os.write(hold_w, b"x")
    sizes = [100] * 50 + [FRAME_BYTES // 3] * 7 + [SLOT_BYTES // 2] * 3 + [10] * 5
    try:
        for k, size in enumerate(sizes):
            h.add(msgspec.msgpack.encode(bytes([k]) * size))
        assert h.sent + h.count == len(sizes)
        h.end()
        lines = _digests(pid, out_r)
    finally:
        h.close()
    assert lines == [f"{size}:{k}:{k}" for k, size in enumerate(sizes)]


@io
class Big:
    """A video frame."""

    image: np.ndarray
    n: int


class BigSource(Flow[None, Big]):
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Big:
        self.n += 1
        return Big(image=np.full(self.shape, self.n, dtype=np.uint8), n=self.n)


# 2.7 MB: a slot's frame of its own; 9 MB: larger than a slot, through the pipe
@pytest.mark.parametrize("shape", [(720, 1280, 3), (3000, 3000)])
def test_video_frames_are_recorded_exactly(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pipe = Pipeline("big")
    pipe.add((BigSource(shape) @ Rate(hz=30)).named("cam"))
    path = tmp_path / "big.rrd"
    pipe.record(RecordConfig(path=path, mirrors=(tmp_path / "big.mcap",)), steps=4,
                dt=1 / 30)
    for file in (path, tmp_path / "big.mcap"):
        msgs = open_recording(file).messages("cam", "out")
        assert [m["n"] for _, _, m in msgs] == [1, 2, 3, 4]
        for k, (_, _, m) in enumerate(msgs, 1):
            assert m["image"].shape == shape and m["image"].dtype == np.uint8
            assert (m["image"] == k).all()
