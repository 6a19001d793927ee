"""Queue policy and shared-memory transport of the multiprocessing backend."""

from __future__ import annotations

import itertools
from pathlib import Path

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate, Trigger

from . import mp_flows as F


def test_full_queue_drops_oldest_so_latest_sees_newest(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    with Pipeline("drop") as pipe:
        src = (F.Counter() @ Rate(hz=200, on_lag="drop")).named("src")
        slow = (F.NumLog(str(log), delay=0.1) @ Trigger("value")).named("slow")
        pipe.connect(src, slow, sync=Latest(), edge_config=EdgeConfig(qsize=1))
    report = pipe.run(backend="multiprocessing", duration=0.8)
    values = [r["v"] for r in F.read_log(log)[0]]
    assert 3 <= len(values) <= 12
    # after each slow step the sink jumps to the newest value instead of the next one
    gaps = [b - a for a, b in itertools.pairwise(values)]
    assert min(gaps[1:]) >= 5
    assert report.flows["slow"].dropped > 0
    assert report.flows["src"].steps - values[-1] <= 25


def test_block_applies_backpressure_without_loss(tmp_path: Path) -> None:
    log = tmp_path / "block.log"
    with Pipeline("block") as pipe:
        src = (F.Counter() @ Rate(hz=500, on_lag="drop")).named("src")
        slow = (F.NumLog(str(log), delay=0.02) @ Trigger("value")).named("slow")
        pipe.connect(src, slow, sync=Latest(),
                     edge_config=EdgeConfig(qsize=1, on_full="block"))
    report = pipe.run(backend="multiprocessing", duration=0.8)
    values = [r["v"] for r in F.read_log(log)[0]]
    assert len(values) >= 10
    assert values == list(range(1, len(values) + 1))  # nothing dropped
    assert report.flows["slow"].dropped == 0
    # the publisher was held back to the consumer's pace (500 Hz would give ~400 steps)
    assert report.flows["src"].steps <= len(values) + 2
    assert report.flows["src"].skipped_ticks > 0


def test_frames_through_shared_memory(tmp_path: Path) -> None:
    log = tmp_path / "frames.log"
    with Pipeline("frames") as pipe:
        cam = (F.FrameSource(480, 640) @ Rate(hz=60)).named("cam")
        chk = (F.FrameLog(str(log)) @ Trigger("image", "index", "stamp")).named("chk")
        pipe.connect(cam, chk, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.6)
    rows = F.read_log(log)[0]
    assert len(rows) >= 10
    assert all(r["ok"] and r["shape"] == [480, 640, 3] for r in rows)
    idx = [r["i"] for r in rows]
    assert idx == sorted(idx)
    assert report.flows["chk"].steps == len(rows)


def test_frames_with_block_are_never_torn(tmp_path: Path) -> None:
    log = tmp_path / "frames.log"
    with Pipeline("frames-block") as pipe:
        cam = (F.FrameSource(240, 320) @ Rate(hz=1000, on_lag="drop")).named("cam")
        chk = (F.FrameLog(str(log)) @ Trigger("image", "index", "stamp")).named("chk")
        pipe.connect(cam, chk, sync=Latest(), edge_config=EdgeConfig(qsize=1, on_full="block"))
    pipe.run(backend="multiprocessing", duration=0.6)
    rows = F.read_log(log)[0]
    assert len(rows) >= 20
    assert all(r["ok"] for r in rows)
    idx = [r["i"] for r in rows]
    assert idx == list(range(1, len(idx) + 1))


def test_frames_overtaken_are_dropped_whole(tmp_path: Path) -> None:
    log = tmp_path / "frames.log"
    with Pipeline("frames-drop") as pipe:
        cam = (F.FrameSource(240, 320) @ Rate(hz=400, on_lag="drop")).named("cam")
        chk = (F.FrameLog(str(log)) @ Trigger("image", "index", "stamp")).named("chk")
        pipe.connect(cam, chk, sync=Latest(), edge_config=EdgeConfig(qsize=1))
    pipe.run(backend="multiprocessing", duration=0.6, shm_slots=2)
    rows = F.read_log(log)[0]
    assert len(rows) >= 10
    assert all(r["ok"] for r in rows)  # a frame is intact or not delivered at all
