"""Tests of the FRP vocabulary in retriever.flow.types."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retriever.flow.adapter import Events, Hold, Latest, Linear, Window
from retriever.flow.types import Behavior, EventStream, TimedBuffer

NUMS: TimedBuffer[int] = [(0.0, 1), (1.0, 2), (2.0, 3), (3.0, 4)]


def test_timed_buffer_alias_is_generic() -> None:
    alias = TimedBuffer[int]
    assert alias == list[tuple[float, int]]
    buf: TimedBuffer[str] = [(0.0, "a")]
    assert EventStream(buf).events() is buf


# ------------------------------------------------------------------------ EventStream


def test_stream_sources() -> None:
    assert EventStream().events() == []
    assert EventStream(NUMS).events() == NUMS
    assert EventStream(lambda: NUMS).events() == NUMS
    assert EventStream(tuple(NUMS)).events() == NUMS
    assert EventStream.of([(2.0, "b"), (1.0, "a"), (2.0, "c")]).events() == [
        (1.0, "a"),
        (2.0, "b"),
        (2.0, "c"),
    ]


def test_stream_sees_live_source() -> None:
    buf: TimedBuffer[int] = []
    live = EventStream(buf)
    doubled = live.map(lambda v: v * 2)
    assert doubled.events() == []
    buf.append((1.0, 5))
    assert doubled.events() == [(1.0, 10)]
    assert len(live) == 1 and list(live) == [(1.0, 5)]
    assert "EventStream" in repr(live)

    box: dict[str, TimedBuffer[int]] = {"buf": [(0.0, 1)]}
    from_fn = EventStream(lambda: box["buf"])
    box["buf"] = [(5.0, 9)]
    assert from_fn.events() == [(5.0, 9)]


def test_sample_applies_adapter() -> None:
    s = EventStream(NUMS)
    assert s.sample(Latest()) == 4
    assert s.sample(Latest(), now=1.5) == 2
    assert s.sample(Window(1.0, "mean"), now=3.0) == pytest.approx(3.5)
    assert s.sample(Events(1.0), now=1.0) == [(0.0, 1), (1.0, 2)]
    assert EventStream().sample(Latest()) is None


def test_map_and_filter() -> None:
    s = EventStream(NUMS)
    assert s.map(str).events() == [(0.0, "1"), (1.0, "2"), (2.0, "3"), (3.0, "4")]
    assert s.filter(lambda v: v % 2 == 0).events() == [(1.0, 2), (3.0, 4)]
    assert s.filter(lambda v: False).events() == []
    assert s.map(lambda v: v + 1).filter(lambda v: v > 3).events() == [(2.0, 4), (3.0, 5)]


def test_merge_is_time_ordered_and_stable() -> None:
    a = EventStream([(0.0, "a0"), (2.0, "a2")])
    b = EventStream([(1.0, "b1"), (2.0, "b2")])
    c = EventStream([(2.0, "c2"), (5.0, "c5")])
    assert a.merge(b, c).events() == [
        (0.0, "a0"),
        (1.0, "b1"),
        (2.0, "a2"),
        (2.0, "b2"),
        (2.0, "c2"),
        (5.0, "c5"),
    ]
    assert [v for _, v in c.merge(a).events()][:3] == ["a0", "c2", "a2"]
    assert a.merge().events() == a.events()
    assert EventStream[str]().merge(EventStream[str]()).events() == []


def test_fold_running_accumulation() -> None:
    s = EventStream(NUMS)
    assert s.fold(lambda acc, v: acc + v, 0).events() == [(0.0, 1), (1.0, 3), (2.0, 6), (3.0, 10)]
    assert s.fold(lambda acc, v: [*acc, v], list[int]()).events()[-1] == (3.0, [1, 2, 3, 4])
    assert EventStream[int]().fold(lambda a, v: a + v, 0).events() == []
    # recomputed from scratch every time: the initial value is not consumed
    folded = s.fold(lambda acc, v: acc + v, 100)
    assert folded.events() == folded.events()


def test_snapshot_samples_behavior_at_event_time() -> None:
    clicks = EventStream([(0.5, "x"), (2.5, "y")])
    position = EventStream(NUMS).hold(0)
    assert clicks.snapshot(position).events() == [(0.5, ("x", 1)), (2.5, ("y", 3))]
    assert clicks.snapshot(position, lambda c, p: f"{c}{p}").events() == [
        (0.5, "x1"),
        (2.5, "y3"),
    ]
    early = EventStream([(-1.0, "z")])
    assert early.snapshot(position).events() == [(-1.0, ("z", 0))]
    assert clicks.snapshot(Behavior(lambda t: t * 2)).events()[1] == (2.5, ("y", 5.0))


def test_combine_latest() -> None:
    a = EventStream([(0.0, 1), (2.0, 2), (4.0, 3)])
    b = EventStream([(1.0, "x"), (3.0, "y")])
    assert a.combine_latest(b).events() == [
        (1.0, (1, "x")),
        (2.0, (2, "x")),
        (3.0, (2, "y")),
        (4.0, (3, "y")),
    ]
    assert a.combine_latest(b, fn=lambda n, s: s * n).events()[-1] == (4.0, "yyy")
    assert a.combine_latest(EventStream()).events() == []
    assert a.combine_latest().events() == [(0.0, (1,)), (2.0, (2,)), (4.0, (3,))]


def test_combine_latest_simultaneous_events() -> None:
    a = EventStream([(1.0, "a")])
    b = EventStream([(1.0, "b")])
    c = EventStream([(0.0, "c"), (1.0, "C")])
    assert a.combine_latest(b, c).events() == [
        (1.0, ("a", "b", "c")),
        (1.0, ("a", "b", "C")),
    ]


def test_flat_map() -> None:
    s = EventStream([(0.0, 2), (1.0, 0), (2.0, 1)])
    assert s.flat_map(lambda n: [n] * n).events() == [(0.0, 2), (0.0, 2), (2.0, 1)]
    assert s.flat_map(lambda n: ()).events() == []
    words = EventStream([(0.0, "ab")])
    assert words.flat_map(iter).events() == [(0.0, "a"), (0.0, "b")]


def test_flat_map_flattens_inner_streams_with_their_own_timestamps() -> None:
    bursts = EventStream([(0.0, "a"), (1.0, "b")])

    def echo(tag: str) -> EventStream[str]:
        start = 0.0 if tag == "a" else 1.0
        return EventStream([(start + 0.5, tag + "1"), (start + 1.5, tag + "2")])

    assert bursts.flat_map(echo).events() == [
        (0.5, "a1"), (1.5, "a2"), (1.5, "b1"), (2.5, "b2")]  # interleaved by time, stably
    # An inner event older than its outer event is seen when the outer one happens.
    late = EventStream([(2.0, 0)])
    assert late.flat_map(lambda _: EventStream([(1.0, "x"), (3.0, "y")])).events() == [
        (2.0, "x"), (3.0, "y")]
    # Streams stay live: appending to the outer buffer shows up in the flattened one.
    buf: list[tuple[float, str]] = [(0.0, "a")]
    flat = EventStream(buf).flat_map(echo)
    assert len(flat) == 2
    buf.append((1.0, "b"))
    assert len(flat) == 4


def test_hold_step_function() -> None:
    s = EventStream(NUMS)
    b = s.hold()
    assert b.at(-1.0) is None
    assert b.at(0.0) == 1
    assert b.at(1.5) == 2
    assert b.at(100.0) == 4
    assert s.hold(-7).at(-1.0) == -7
    assert EventStream[int]().hold(5).at(0.0) == 5


def test_to_behavior_and_from_stream() -> None:
    s = EventStream([(0.0, 0.0), (2.0, 10.0)])
    lin = s.to_behavior(Linear())
    assert lin.at(0.5) == pytest.approx(2.5)
    assert Behavior.from_stream(s, Linear()).at(1.0) == pytest.approx(5.0)
    assert s.to_behavior(Latest()).at(1.9) == 0.0


def test_to_behavior_uses_private_adapter_copy() -> None:
    hold = Hold(debounce=10.0)
    s = EventStream(NUMS)
    b = s.to_behavior(hold)
    assert b.at(0.0) == 1
    assert b.at(3.0) == 1  # the behavior's own Hold is debouncing
    assert hold(NUMS, 3.0) == 4  # the caller's instance was not touched


# --------------------------------------------------------------------------- Behavior


def test_behavior_basics() -> None:
    b = Behavior(lambda t: t * t)
    assert b.at(3.0) == 9.0
    assert b.map(lambda v: v + 1).at(2.0) == 5.0
    c = Behavior.constant("k")
    assert c.at(-5.0) == c.at(1e9) == "k"
    assert "Behavior" in repr(c)


def test_behavior_select() -> None:
    cond = Behavior(lambda t: t >= 1.0)
    picked = Behavior.select(cond, Behavior.constant("on"), Behavior(lambda t: f"off@{t}"))
    assert picked.at(0.5) == "off@0.5"
    assert picked.at(1.0) == "on"


def test_behavior_select_samples_only_chosen_branch() -> None:
    calls: list[str] = []

    def branch(tag: str) -> Behavior[str]:
        def at(t: float) -> str:
            calls.append(tag)
            return tag

        return Behavior(at)

    picked = Behavior.select(Behavior.constant(True), branch("yes"), branch("no"))
    assert picked.at(0.0) == "yes"
    assert calls == ["yes"]


def test_behavior_until_switches_at_first_event() -> None:
    stop = EventStream([(2.0, "stop"), (3.0, "again")])
    b = Behavior(lambda t: "run").until(stop, Behavior.constant("stopped"))
    assert b.at(1.99) == "run"
    assert b.at(2.0) == "stopped"
    assert b.at(10.0) == "stopped"


def test_behavior_until_with_function_of_event_value() -> None:
    speed = EventStream([(1.0, 5.0), (4.0, 99.0)])
    pos = Behavior.constant(0.0).until(speed, lambda v: Behavior(lambda t: v * (t - 1.0)))
    assert pos.at(0.5) == 0.0
    assert pos.at(3.0) == pytest.approx(10.0)  # first event's value, not the later one


def test_behavior_until_follows_live_stream() -> None:
    buf: TimedBuffer[Any] = []
    b = Behavior.constant("before").until(EventStream(buf), Behavior.constant("after"))
    assert b.at(5.0) == "before"
    buf.append((4.0, None))
    assert b.at(5.0) == "after"
    assert b.at(3.0) == "before"


# ------------------------------------------------------------------------- properties

stamped = st.lists(
    st.tuples(st.floats(min_value=-50, max_value=50, allow_nan=False), st.integers()),
    max_size=25,
).map(lambda evs: sorted(evs, key=lambda e: e[0]))


@given(st.lists(stamped, min_size=1, max_size=4))
def test_prop_merge_sorted_and_complete(bufs: list[TimedBuffer[int]]) -> None:
    tagged = [[(t, (k, i, v)) for i, (t, v) in enumerate(b)] for k, b in enumerate(bufs)]
    streams = [EventStream(b) for b in tagged]
    merged = streams[0].merge(*streams[1:]).events()
    times = [t for t, _ in merged]
    assert times == sorted(times)
    assert sorted(merged) == sorted(e for b in tagged for e in b)
    # stable: equal timestamps keep (stream index, position) order
    for (t1, p1), (t2, p2) in itertools.pairwise(merged):
        if t1 == t2:
            assert p1[:2] < p2[:2]


@given(stamped)
def test_prop_fold_sum_matches_prefix_sums(buf: TimedBuffer[int]) -> None:
    out = EventStream(buf).fold(lambda a, v: a + v, 0).events()
    assert [t for t, _ in out] == [t for t, _ in buf]
    assert [v for _, v in out] == [sum(v for _, v in buf[: i + 1]) for i in range(len(buf))]


@given(stamped, st.floats(min_value=-60, max_value=60, allow_nan=False))
def test_prop_hold_equals_latest_adapter(buf: TimedBuffer[int], t: float) -> None:
    s = EventStream(buf)
    expected = Latest()(buf, t)
    assert s.hold().at(t) == expected
    assert s.to_behavior(Latest()).at(t) == expected


@given(stamped, stamped)
def test_prop_combine_latest_count(a: TimedBuffer[int], b: TimedBuffer[int]) -> None:
    out = EventStream(a).combine_latest(EventStream(b)).events()
    if not a or not b:
        assert out == []
        return
    start = max(a[0][0], b[0][0])
    merged = EventStream(a).merge(EventStream(b)).events()
    # every event from the moment both streams have fired produces one output
    assert len(out) <= len(merged)
    assert all(t >= start for t, _ in out)
    assert out[-1][1] == (a[-1][1], b[-1][1])
