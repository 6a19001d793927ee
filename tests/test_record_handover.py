"""The hand-over from the recording process to its writer: frames through shared-memory
slots or (larger than a slot) the pipe, in order, and backpressure when the writer lags."""

from __future__ import annotations

import os
import queue
import select
import threading
from pathlib import Path

import numpy as np
import pytest

from retriever.flow import Flow, Pipeline, Rate, io
from retriever.record import RecordConfig, open_recording
from retriever.record.handover import SLOT_BYTES, SLOTS, Handover


def _echo_writer(h: Handover, out_fd: int, hold: int) -> None:
    """Child: wait until ``hold`` is readable, then receive every frame and write a
    digest of each to ``out_fd``."""
    frames: queue.Queue[bytearray | None] = queue.Queue()
    os.read(hold, 1)
    h.receive(lambda: True, frames)
    while (f := frames.get()) is not None:
        os.write(out_fd, f"{len(f)}:{f[0]}:{f[-1]}\n".encode())


@pytest.mark.parametrize("size", [1000, SLOT_BYTES - 8, SLOT_BYTES + 1, 3 * SLOT_BYTES])
def test_frames_arrive_whole_and_in_order_while_the_writer_lags(size: int) -> None:
    h = Handover()
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
    waits: list[int] = []

    def wait(fd: int) -> None:
        waits.append(fd)
        select.select([fd], [], [])

    n = SLOTS + 3
    # the writer starts reading 0.2 s late: by then every slot is held
    release = threading.Timer(0.2, os.write, (hold_w, b"x"))
    release.start()
    try:
        for k in range(n):
            data = bytes([k]) * size
            h.send([data[:size // 2], data[size // 2:]], size, wait)
        h.end()
        _, status = os.waitpid(pid, 0)
    finally:
        h.close()
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(out_r) as got:
        lines = got.read().split()
    assert lines == [f"{size}:{k}:{k}" for k in range(n)]
    # a lagging writer holds every slot: the sender waited instead of dropping
    assert bool(waits) == (size <= SLOT_BYTES)


@io
class Big:
    """A frame larger than a hand-over slot."""

    image: np.ndarray
    n: int


class BigSource(Flow[None, Big]):
    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Big:
        self.n += 1
        frame = np.full((720, 1280, 3), self.n, dtype=np.uint8)  # 2.7 MB
        return Big(image=frame, n=self.n)


def test_frames_larger_than_a_slot_are_recorded_exactly(tmp_path: Path) -> None:
    pipe = Pipeline("big")
    pipe.add((BigSource() @ Rate(hz=30)).named("cam"))
    path = tmp_path / "big.mcap"
    pipe.record(RecordConfig(path=path), steps=4, dt=1 / 30)
    msgs = open_recording(path).messages("cam", "out")
    assert [m["n"] for _, _, m in msgs] == [1, 2, 3, 4]
    for k, (_, _, m) in enumerate(msgs, 1):
        assert m["image"].shape == (720, 1280, 3) and m["image"].dtype == np.uint8
        assert (m["image"] == k).all()
