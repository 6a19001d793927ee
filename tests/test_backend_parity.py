"""Backend parity: the same graphs on the stepper, in-process, multiprocessing and dora.

Flows in :mod:`tests.parity_flows` never look at the clock, so what each sink sees
depends only on message order. The stepper's sequences are the reference; a real-time
backend must see a contiguous part of each (it may start a little late, or stop early),
never a value out of order, twice, or skipped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import retriever
from retriever.flow import Latest, Rate
from retriever.flow.settings import init, settings
from retriever.rt.report import RunReport

from . import parity_flows as P
from .dora_flows import dora_installed

REAL_TIME = ["in-process", "multiprocessing", "dora"]
DURATION = 1.0
STOP_BOUND = 6.0  # generous: only says "returns", never a performance figure


def _needs(backend: str) -> None:
    if backend == "dora" and not dora_installed():
        pytest.skip("dora-rs / dora-rs-cli / pyarrow not installed")


def _options(backend: str) -> dict[str, Any]:
    return {"echo": False} if backend == "dora" else {}


def _dedupe(seq: list[Any]) -> list[Any]:
    return [v for i, v in enumerate(seq) if i == 0 or v != seq[i - 1]]


def _views(out: Path) -> dict[str, list[Any]]:
    """What every sink saw; Hybrid repeats the latest value on its periodic runs and
    the fan-in sink runs once per arrival, so those compare by distinct values."""
    seen = {name: P.read(out / f"{name}.jsonl") for name in P.SINKS}
    seen["hybrid"] = _dedupe(seen["hybrid"])
    pairs = seen.pop("join")
    seen["join.a"] = _dedupe([a for a, _ in pairs if a is not None])
    seen["join.b"] = _dedupe([b for _, b in pairs if b is not None])
    return seen


def _assert_slice(name: str, got: list[Any], ref: list[Any]) -> None:
    assert len(got) >= 4, f"{name}: only {got}"
    start = ref.index(got[0]) if got[0] in ref else -1
    assert 0 <= start <= 2, f"{name}: starts with {got[0]!r}, the stepper with {ref[:3]}"
    assert got == ref[start:start + len(got)], f"{name}: {got} is not part of {ref[:40]}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    out = tmp_path_factory.mktemp("stepper")
    pipe, _ = P.graph(out)
    for _ in range(120):
        pipe.step(dt=1 / P.HZ)
    pipe.close_stepper()
    return _views(out)


def test_stepper_reference_is_what_each_case_promises(reference: dict[str, list[Any]]) -> None:
    n = list(range(1, 121))
    assert reference["fan_a"] == n and reference["fan_b"] == n
    assert reference["chain"] == [v + 11 for v in n]
    assert reference["join.a"] == n and reference["join.b"] == n
    assert reference["hybrid"] == n
    assert reference["ticks"] == n  # Tick sampled nothing although connected
    assert reference["events"][:4] == [101, 102, 103, 203]  # the last three, oldest first
    assert reference["window"][:4] == [1, 2, 3, 4]


@pytest.mark.parametrize("backend", REAL_TIME)
def test_every_backend_sees_what_the_stepper_sees(
        backend: str, tmp_path: Path, reference: dict[str, list[Any]]) -> None:
    _needs(backend)
    pipe, partitions = P.graph(tmp_path)
    report = pipe.run(backend=backend, duration=DURATION, policy=partitions,
                      **_options(backend))
    assert isinstance(report, RunReport) and report.error is None
    for name, got in _views(tmp_path).items():
        _assert_slice(name, got, reference[name])


@pytest.mark.parametrize("backend", REAL_TIME)
def test_lag_policies_at_a_low_rate(backend: str, tmp_path: Path) -> None:
    _needs(backend)
    pipe = P.lag_graph(tmp_path, step_seconds=0.15)  # 10 Hz flows that need 150 ms
    t0 = time.monotonic()
    report = pipe.run(backend=backend, duration=DURATION, **_options(backend))
    assert isinstance(report, RunReport)
    assert report.duration < DURATION + STOP_BOUND  # returns whatever the policy
    assert time.monotonic() - t0 < DURATION + STOP_BOUND + (30 if backend == "dora" else 0)
    drop, catch_up = report.flows["slow_drop"], report.flows["slow_catch_up"]
    assert drop.lag_events > 0 and drop.skipped_ticks > 0
    assert catch_up.lag_events > 0 and catch_up.skipped_ticks == 0
    for policy in ("drop", "catch_up"):
        seen = P.read(tmp_path / f"{policy}.jsonl")
        assert seen and seen == list(range(1, len(seen) + 1)), (policy, seen)


@pytest.fixture
def default_sync_restored() -> Any:
    saved = settings().default_sync
    yield
    init(default_sync=saved)
    retriever.reset_default_pipeline()


@pytest.mark.parametrize("backend", ["stepper", *REAL_TIME])
def test_handbook_default_pipeline_snippet_runs_everywhere(
        backend: str, default_sync_restored: Any) -> None:
    _needs(backend)
    Source, AddOne = P.Source, P.AddOne
    # -- the handbook's section 5.5, as printed (the backend varies) --
    retriever.reset_default_pipeline()
    a = Source() @ Rate(hz=10)
    b = AddOne() @ Rate(hz=10)
    retriever.init(default_sync=Latest())
    retriever.connect(a, b)
    # --
    pipe = retriever.default_pipeline()
    if backend == "stepper":
        results = [pipe.step(dt=0.1) for _ in range(3)]
        pipe.close_stepper()
        assert [r.outputs["add_one"].value for r in results] == [2, 3, 4]
        return
    report = pipe.run(backend=backend, duration=1.0, **_options(backend))
    assert isinstance(report, RunReport) and report.error is None
    assert report.flows["add_one"].steps >= 3
    assert report.flows["add_one"].waiting_on == []
