"""How multiprocessing workers wait: ``spin`` before deadlines, ``spin_arrivals``
around predicted arrivals and ``busy_poll``, and how they are scheduled
(``realtime``), with real worker processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from retriever.contract.errors import ConfigError
from retriever.flow import Latest, Pipeline, Rate, Tick, Trigger
from retriever.rt.backends.multiprocessing import run as mp_run
from retriever.rt.backends.multiprocessing.plan import (
    REALTIME_PRIORITY,
    WaitOptions,
    busy_wait_defaults,
    quota_cores,
    usable_cores,
)
from retriever.rt.backends.multiprocessing.worker import apply_realtime

from . import mp_flows as F


def _chain(log: Path, hz: float = 100) -> Pipeline:
    with Pipeline("waiting") as pipe:
        src = (F.Counter() @ Rate(hz=hz)).named("src")
        sink = (F.CpuNumLog(str(log)) @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    return pipe


def _run(log: Path, hz: float = 100, **options: Any) -> tuple[list[int], float]:
    report = _chain(log, hz).run(backend="multiprocessing", duration=0.8, **options)
    rows, finals = F.read_log(log)
    values = [r["v"] for r in rows if "v" in r]
    cpu = [r["cpu"] for r in rows if "cpu" in r]
    assert report.error is None and len(finals) == 1 and len(cpu) == 1
    assert report.flows["sink"].steps == len(values) == report.flows["src"].steps
    return values, cpu[0]


def test_busy_poll_delivers_every_message_and_really_polls(tmp_path: Path) -> None:
    values, busy_cpu = _run(tmp_path / "busy.log", busy_poll=True)
    assert values == list(range(1, len(values) + 1)) and len(values) >= 40
    values, idle_cpu = _run(tmp_path / "idle.log")
    assert values == list(range(1, len(values) + 1)) and len(values) >= 40
    # a polling worker spends its waits on the CPU; a blocking one sleeps through them
    assert busy_cpu > idle_cpu + 0.15, (busy_cpu, idle_cpu)


# 100 Hz streams get no arrival windows (too slow to be worth one), 400 Hz ones do
@pytest.mark.parametrize(("hz", "spin_arrivals"),
                         [(100, 0.0), (100, 0.0002), (100, 0.002), (400, 0.0), (400, 0.0002)])
def test_arrival_spin_on_or_off_delivers_every_message_in_order(
        tmp_path: Path, hz: float, spin_arrivals: float) -> None:
    values, _ = _run(tmp_path / "arrivals.log", hz, spin_arrivals=spin_arrivals)
    assert values == list(range(1, len(values) + 1)) and len(values) >= 0.5 * hz


@pytest.mark.parametrize("spin_arrivals", [0.0, 0.0002])
def test_partitions_feeding_each_other_on_one_grid_lose_and_reorder_nothing(
        tmp_path: Path, spin_arrivals: float) -> None:
    # the shape of bench_scale: each partition's source feeds the other partition's
    # chain, so every tick both workers send and receive at about the same time
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    policy: dict[str, str] = {}
    with Pipeline("crossed") as pipe:
        srcs = [(F.Counter() @ Rate(hz=200)).named(f"src{k}") for k in range(2)]
        for k in range(2):
            relay = (F.Relay() @ Trigger("value", "pid", "stamp")).named(f"relay{k}")
            sink = (F.NumLog(str(logs[k])) @ Trigger("value")).named(f"sink{k}")
            pipe.connect(srcs[1 - k], relay, sync=Latest())
            pipe.connect(relay, sink, sync=Latest())
            policy.update({f"src{k}": f"p{k}", f"relay{k}": f"p{k}", f"sink{k}": f"p{k}"})
    report = pipe.run(backend="multiprocessing", duration=0.6, policy=policy,
                      spin_arrivals=spin_arrivals)
    assert report.error is None
    pids = []
    for k in range(2):
        rows, finals = F.read_log(logs[k])
        values = [r["v"] for r in rows]
        assert values == list(range(1, len(values) + 1)) and len(values) >= 60
        assert report.flows[f"sink{k}"].steps == report.flows[f"src{1 - k}"].steps
        assert {r["me"] for r in rows} == set(finals) and len(finals) == 1
        pids += finals
    assert len(set(pids)) == 2  # two processes, each hearing the other


@pytest.mark.parametrize("spin", [0.0, 0.002])
def test_spin_keeps_every_tick(tmp_path: Path, spin: float) -> None:
    log = tmp_path / "tick.log"
    with Pipeline("spin") as pipe:
        (F.TickLog(str(log)) @ Tick(hz=200)).named("tick")
    report = pipe.run(backend="multiprocessing", duration=0.5, spin=spin)
    rows, finals = F.read_log(log)
    assert report.error is None and finals
    assert report.flows["tick"].steps == len(rows) >= 60
    # the absolute-deadline grid: 0.5 s at 200 Hz is 100 ticks, run or skipped as lagging
    assert 98 <= report.flows["tick"].steps + report.flows["tick"].skipped_ticks <= 103


@pytest.mark.parametrize("options", [{"spin": -1}, {"spin": 0.5},
                                     {"spin": "fast"}, {"busy_poll": "yes"},
                                     {"spin_arrivals": -0.001}, {"spin_arrivals": 1},
                                     {"realtime": "yes"}, {"realtime": 100},
                                     {"realtime": -1}, {"realtime": 1.5}])
def test_bad_waiting_options_are_refused_before_any_process_starts(
        options: dict[str, Any]) -> None:
    with Pipeline("bad") as pipe:
        (F.TickLog("/nonexistent/never-written.log") @ Tick(hz=10)).named("tick")
    with pytest.raises(ConfigError) as err:
        pipe.run(backend="multiprocessing", duration=0.1, **options)
    name = next(iter(options))
    assert name in str(err.value)



def _policy_run(tmp_path: Path, **options: Any) -> tuple[Any, int]:
    log = tmp_path / "policy.log"
    with Pipeline("realtime") as pipe:
        src = (F.Counter() @ Rate(hz=100)).named("src")
        sink = (F.PolicyLog(str(log)) @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.3, **options)
    rows, finals = F.read_log(log)
    policies = [r["policy"] for r in rows if "policy" in r]
    assert report.error is None and len(finals) == 1 and len(policies) == 1
    return report, policies[0]


def test_realtime_is_granted_or_the_refusal_is_reported(tmp_path: Path) -> None:
    report, policy = _policy_run(tmp_path, realtime=True)
    for name in ("src", "sink"):
        granted = report.flows[name].scheduling
        # never silent: either what the OS granted, or why it refused
        assert granted == f"SCHED_FIFO {REALTIME_PRIORITY}" or granted.startswith("refused:")
    granted = report.flows["sink"].scheduling
    if granted.startswith("refused:"):
        assert policy != getattr(os, "SCHED_FIFO", -2)
        assert "realtime scheduling refused" in report.summary()
    else:
        assert policy == os.SCHED_FIFO  # the worker really runs under SCHED_FIFO


def test_without_realtime_workers_keep_the_ordinary_scheduler(tmp_path: Path) -> None:
    report, policy = _policy_run(tmp_path)
    assert report.flows["sink"].scheduling == ""
    assert policy != getattr(os, "SCHED_FIFO", -2)


def test_a_refused_realtime_request_says_what_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, policy: int, param: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    got = apply_realtime(20)
    assert got.startswith("refused:") and "CAP_SYS_NICE" in got and "20" in got
    monkeypatch.delattr(os, "sched_setscheduler", raising=False)
    assert apply_realtime(20).startswith("refused:")  # a platform without it
def test_busy_waiting_is_off_by_default_only_when_workers_outnumber_cores() -> None:
    spin, arrivals = WaitOptions.spin, WaitOptions.spin_arrivals
    assert busy_wait_defaults(1, 2) == busy_wait_defaults(2, 2) == (spin, arrivals)
    assert spin > 0.0 and arrivals > 0.0
    assert busy_wait_defaults(3, 2) == busy_wait_defaults(20, 8) == (0.0, 0.0)
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def _three_partitions() -> tuple[Pipeline, dict[str, str]]:
    with Pipeline("crowded") as pipe:
        src = (F.Counter() @ Rate(hz=50)).named("src")
        mid = (F.Relay() @ Trigger("value")).named("mid")
        end = (F.Relay() @ Trigger("value")).named("end")
        pipe.connect(src, mid, sync=Latest())
        pipe.connect(mid, end, sync=Latest())
    return pipe, {"src": "a", "mid": "b", "end": "c"}


@pytest.mark.parametrize(("cores", "options", "expected"), [
    # three workers on two cores: no spinning unless asked for
    (2, {"spin_arrivals": 0.0003}, (0.0, 0.0003)),
    # on four cores the defaults stay, and what is asked for is kept
    (4, {"spin": 0.0005}, (0.0005, WaitOptions.spin_arrivals)),
])
def test_workers_get_the_busy_waiting_their_cores_allow(
        monkeypatch: pytest.MonkeyPatch, cores: int, options: dict[str, Any],
        expected: tuple[float, float]) -> None:
    monkeypatch.setattr(mp_run, "usable_cores", lambda: cores)
    pipe, policy = _three_partitions()
    handle: Any = pipe.run(backend="multiprocessing", blocking=False, policy=policy,
                           **options)
    try:
        assert (handle.waiting.spin, handle.waiting.spin_arrivals) == expected
    finally:
        report = handle.stop()
    assert report.error is None


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "150000 100000\n"}, 2),  # cgroup v2, --cpus=1.5
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_a_container_cpu_quota_counts_as_the_cores_there_are(
        tmp_path: Path, files: dict[str, str], expected: int | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert quota_cores(str(tmp_path)) == expected
