"""The multiprocessing backend with real worker processes: clocks, adapters, composite
flows, partitions, whole-message delivery and the run handle."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from retriever.flow import Events, Hold, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, Window
from retriever.ir.lower import lower
from retriever.rt import execute_ir
from retriever.rt.backends.multiprocessing import MultiprocessingRun

from . import mp_flows as F


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def assert_no_workers(pids: set[int]) -> None:
    """None of ``pids`` is still a running process."""
    assert pids, "expected some worker pids"
    assert os.getpid() not in pids
    assert not [p for p in pids if _alive(p)]


def test_rate_source_to_trigger_sink_in_order_and_finalized(tmp_path: Path) -> None:
    log = tmp_path / "sink.log"
    with Pipeline("basic") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        sink = (F.NumLog(str(log)) @ Trigger("value", "pid")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.6)
    rows, finals = F.read_log(log)
    values = [r["v"] for r in rows]
    assert len(values) >= 10
    # every message arrives once and in order; the staged stop loses nothing in flight
    assert values == list(range(1, len(values) + 1))
    assert report.flows["src"].steps == len(values)
    assert report.flows["sink"].steps == len(values)
    assert report.error is None and report.backend == "multiprocessing"
    src_pids = {r["src"] for r in rows}
    sink_pids = {r["me"] for r in rows}
    assert len(src_pids) == 1 and len(sink_pids) == 1 and src_pids != sink_pids
    assert finals == list(sink_pids)  # finalize ran in the worker
    assert_no_workers(src_pids | sink_pids)


def test_execute_ir_non_blocking_handle(tmp_path: Path) -> None:
    log = tmp_path / "sink.log"
    with Pipeline("handle") as pipe:
        src = (F.Counter() @ Rate(hz=100)).named("src")
        sink = (F.NumLog(str(log)) @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    handle = execute_ir(lower(pipe), "multiprocessing", blocking=False)
    assert isinstance(handle, MultiprocessingRun)
    try:
        assert handle.wait(0.3) is None
        assert handle.running
        live = handle.stats()
        assert set(live) == {"src", "sink"}
        # spawned workers (portable mode) take a while to import: wait for progress
        deadline = time.monotonic() + 20
        while handle.stats()["sink"]["steps"] < 5 and time.monotonic() < deadline:
            assert handle.wait(0.05) is None
    finally:
        report = handle.stop()
    assert not handle.running
    assert report.flows["sink"].steps >= 5
    assert handle.wait(0) is report
    rows, finals = F.read_log(log)
    assert len(finals) == 1 and len(rows) == report.flows["sink"].steps
    assert_no_workers(set(handle.pids.values()))


def test_tick_and_rate_without_inputs(tmp_path: Path) -> None:
    with Pipeline("ticks") as pipe:
        (F.TickLog(str(tmp_path / "tick.log")) @ Tick(hz=40)).named("tick")
        (F.TickLog(str(tmp_path / "rate.log")) @ Rate(hz=20)).named("rate")
    report = pipe.run(backend="multiprocessing", duration=0.5)
    ticks, _ = F.read_log(tmp_path / "tick.log")
    rates, _ = F.read_log(tmp_path / "rate.log")
    assert report.flows["tick"].steps == len(ticks) >= 8
    assert report.flows["rate"].steps == len(rates) >= 4
    assert len(ticks) > len(rates)
    assert ticks[0]["me"] != rates[0]["me"]  # per-flow partitions by default


def test_hybrid_runs_on_ticks_and_on_arrivals(tmp_path: Path) -> None:
    log = tmp_path / "hyb.log"
    with Pipeline("hybrid") as pipe:
        src = (F.Counter() @ Rate(hz=40)).named("src")
        hyb = (F.NumLog(str(log)) @ Hybrid(hz=2, trigger=["value"])).named("hyb")
        pipe.connect(src, hyb, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.6)
    rows, _ = F.read_log(log)
    values = [r["v"] for r in rows]
    # a 2 Hz clock alone would run about twice; the trigger runs it on every arrival
    assert len(values) >= 10
    assert values == sorted(values)
    assert report.flows["hyb"].steps >= len(values)


def test_rate_sink_latest_sees_newest(tmp_path: Path) -> None:
    log = tmp_path / "rate.log"
    with Pipeline("latest") as pipe:
        src = (F.Counter() @ Rate(hz=100)).named("src")
        sink = (F.NumLog(str(log)) @ Rate(hz=10)).named("sink")
        pipe.connect(src, sink, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.7)
    values = [r["v"] for r in F.read_log(log)[0]]
    assert len(values) >= 3
    assert values == sorted(values)
    assert max(b - a for a, b in itertools.pairwise(values)) > 3  # it samples
    assert report.flows["src"].steps >= values[-1]


@pytest.mark.parametrize("sync", ["window", "events", "hold"])
def test_adapters_across_processes(tmp_path: Path, sync: str) -> None:
    log = tmp_path / "w.log"
    adapter = {"window": Window(duration=10.0, agg="max"), "events": Events(duration=10.0),
               "hold": Hold()}[sync]
    with Pipeline("adapters") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        log_flow = F.EventsLog(str(log)) if sync == "events" else F.WindowLog(str(log))
        sink = (log_flow @ Rate(hz=10)).named("sink")
        pipe.connect(src, sink, sync={"value": adapter, "pid": Latest(), "stamp": Latest()})
    pipe.run(backend="multiprocessing", duration=0.6)
    seen = [r["v"] for r in F.read_log(log)[0] if r["v"] is not None]
    assert len(seen) >= 2
    if sync == "events":
        # every event of the window, in order, with nothing missing
        last = seen[-1]
        assert isinstance(last, list) and last == list(range(last[0], last[0] + len(last)))
        assert len(last) >= 10
    else:
        assert all(isinstance(v, int) for v in seen) and seen == sorted(seen)


def test_composite_flows(tmp_path: Path) -> None:
    log = tmp_path / "total.log"
    with Pipeline("composite") as pipe:
        motion = (F.Motion() @ Rate(hz=40)).named("motion")
        fuse = (F.Fuse() @ Trigger("x", "v")).named("fuse")
        out = (F.TotalLog(str(log)) @ Trigger("total")).named("out")
        pipe.connect(motion, fuse, sync=Latest())
        pipe.connect(fuse, out, sync=Latest())
    pipe.run(backend="multiprocessing", duration=0.5)
    totals = [r["total"] for r in F.read_log(log)[0]]
    assert len(totals) >= 5
    # both parts of one composite output arrive together: total is always 1.5 * k
    assert totals == [1.5 * k for k in range(1, len(totals) + 1)]


@pytest.mark.parametrize("policy", ["single", {"src": "p", "relay": "p"}])
def test_partition_shares_a_process(tmp_path: Path, policy: object) -> None:
    log = tmp_path / "p.log"
    with Pipeline("parts") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        relay = (F.Relay() @ Trigger("value", "pid", "stamp")).named("relay")
        sink = (F.NumLog(str(log)) @ Trigger("value", "pid")).named("sink")
        pipe.connect(src, relay, sync=Latest())
        pipe.connect(relay, sink, sync=Latest())
    handle = pipe.run(backend="multiprocessing", duration=0.5, policy=policy, blocking=False)
    report = handle.wait(30)
    rows, finals = F.read_log(log)
    assert report is not None and len(rows) >= 5
    values = [r["v"] for r in rows]
    assert values == list(range(1, len(values) + 1))
    relay_pids = {r["src"] for r in rows}  # Relay stamps its own pid
    sink_pids = {r["me"] for r in rows}
    assert len(relay_pids) == 1
    if policy == "single":
        assert relay_pids == sink_pids and len(handle.pids) == 1
    else:
        assert relay_pids != sink_pids and len(handle.pids) == 2
    assert finals == list(sink_pids)


def test_whole_message_delivery(tmp_path: Path) -> None:
    log = tmp_path / "pair.log"
    with Pipeline("whole") as pipe:
        src = (F.PairSource() @ Rate(hz=1000, on_lag="drop")).named("src")
        sink = (F.PairLog(str(log)) @ Rate(hz=300, on_lag="drop")).named("sink")
        trig = (F.PairLog(str(tmp_path / "trig.log")) @ Trigger("a", "b")).named("trig")
        pipe.connect(src, sink, sync=Latest(), )
        pipe.connect(src, trig, sync=Latest())
    pipe.run(backend="multiprocessing", duration=0.8)
    for name in ("pair.log", "trig.log"):
        rows = [r for r in F.read_log(tmp_path / name)[0] if r["a"] is not None]
        assert len(rows) >= 20
        assert all(r["a"] == r["b"] for r in rows), "fields of different messages mixed"
