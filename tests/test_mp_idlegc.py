"""The idle-time garbage collector of multiprocessing workers (pure logic, run in this
process: the interpreter's collector settings are restored after each test)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from retriever.rt.backends.multiprocessing.idlegc import BACKSTOP, IdleCollector


class _Node:
    """An object the cyclic collector tracks."""


@pytest.fixture
def collector() -> Iterator[IdleCollector]:
    saved = gc.get_threshold()
    enabled = gc.isenabled()
    idle = IdleCollector()
    try:
        yield idle
    finally:
        idle.stop()
        gc.unfreeze()
        gc.set_threshold(*saved)
        if enabled:
            gc.enable()
        else:
            gc.disable()


def test_collections_wait_for_idle_time_and_stay_bounded(collector: IdleCollector) -> None:
    young, middle, old = gc.get_threshold()
    collector.start()
    assert collector.active
    # automatic collections still happen, at BACKSTOP times the usual threshold
    assert gc.get_threshold() == (young * BACKSTOP, middle, old)
    assert gc.get_freeze_count() > 0  # what existed at the start is out of the way
    gc.collect(0)
    assert not collector.due()
    keep = [_Node() for _ in range(young + 10)]  # allocations the collector tracks
    assert collector.due()  # the interpreter would have collected by now
    collector.collect()
    assert not collector.due()
    assert len(keep) == young + 10
    collector.stop()
    assert gc.get_threshold() == (young, middle, old) and not collector.active


def test_older_generations_are_collected_as_the_interpreter_would() -> None:
    idle = IdleCollector()
    young, middle, old = idle.thresholds
    collected: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    gc.collect()  # every count back to zero
    gc.callbacks.append(record)
    try:
        for _ in range(middle + 1):
            idle.collect()
    finally:
        gc.callbacks.remove(record)
    # young collections until the middle generation's threshold is reached, then one
    # of the middle generation
    assert collected == [0] * middle + [1]


def test_a_program_that_turned_the_collector_off_keeps_it_off(
        collector: IdleCollector) -> None:
    gc.disable()
    before = gc.get_threshold()
    collector.start()
    assert not collector.active and not collector.due()
    assert gc.get_threshold() == before and not gc.isenabled()
