"""The arrival predictor behind ``spin_arrivals``: which streams get a spin window,
where it lies and how long it may be (pure logic, no processes)."""

from __future__ import annotations

import random

from retriever.flow import Flow, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, io
from retriever.ir.lower import lower
from retriever.rt.backends.multiprocessing.arrivals import (
    FIRST,
    HISTORY,
    LATE_HISTORY,
    LATE_KNOWN,
    LATE_MARGIN,
    LATE_PRIOR,
    LATE_RANK,
    LEAD,
    LEAD_SHARE,
    MAX_PERIOD,
    MIN_PERIOD,
    NEVER,
    SHARE,
    TRIM,
    ArrivalPredictor,
    WakeLateness,
)
from retriever.rt.step import send_period

DELIVERY = 30e-6  # send time to receive time


def _punctual() -> WakeLateness:
    """A worker whose timed wake-ups were all measured on time."""
    late = WakeLateness()
    for _ in range(LATE_KNOWN):
        late.woke(0.0)
    return late


def _feed(pred: ArrivalPredictor, sends: list[float]) -> None:
    for t in sends:
        pred.arrived(t, t + DELIVERY)


def test_regular_stream_gets_a_window_around_its_next_arrival() -> None:
    pred = ArrivalPredictor(0.0002)
    period = 0.002
    sends = [1.0 + k * period + random.Random(k).uniform(-20e-6, 20e-6) for k in range(20)]
    _feed(pred, sends)
    due = sends[-1] + period + DELIVERY
    assert pred.wake <= pred.start < due < pred.end
    # polling starts at most the base window before the arrival; the window stays
    # open after it for a share of the period (the message normally closes it)
    assert due - pred.start <= 0.0002 + 40e-6
    assert pred.end - due <= LEAD_SHARE * period + 40e-6


def test_no_window_before_enough_history() -> None:
    pred = ArrivalPredictor(0.0002)
    _feed(pred, [1.0 + k * 0.002 for k in range(FIRST - 1)])
    assert pred.start == pred.end == NEVER
    _feed(pred, [1.0 + (FIRST - 1) * 0.002])
    assert pred.start < NEVER


def test_a_young_history_leaves_out_fewer_late_sends() -> None:
    # with exactly FIRST sends all must agree; each send beyond leaves one more out
    pred = ArrivalPredictor(0.0002)
    sends = [1.0 + k * 0.002 for k in range(FIRST)]
    sends[0] += 0.0008  # a stream's first send comes late (its worker was starting)
    _feed(pred, sends)
    assert pred.start == NEVER
    _feed(pred, [1.0 + FIRST * 0.002])
    assert pred.start < NEVER  # one send beyond FIRST: that late one is left out
    pred = ArrivalPredictor(0.0002)
    sends = [1.0 + k * 0.002 for k in range(FIRST + 1)]
    sends[0] += 0.0008
    sends[2] += 0.0008  # two late sends are one too many this young
    _feed(pred, sends)
    assert pred.start == NEVER
    _feed(pred, [1.0 + k * 0.002 for k in range(FIRST + 1, HISTORY + 2)])
    assert pred.start < NEVER  # with a full history, TRIM late sends are left out


def test_a_known_clock_period_gives_windows_from_the_second_message() -> None:
    period = 0.002
    sends = [1.0 + k * period for k in range(12)]
    sends[0] += 0.0009  # the first tick ran late
    pred = ArrivalPredictor(0.0002, period=period)
    pred.arrived(sends[0], sends[0] + DELIVERY)
    assert pred.start == NEVER  # no delivery time yet
    pred.arrived(sends[1], sends[1] + DELIVERY)
    due = sends[1] + period + DELIVERY  # on the grid, not a period after the late one
    assert pred.wake <= pred.start < due < pred.end < NEVER
    # a learned stream needs FIRST sends, and one more to leave the late one out
    learned = ArrivalPredictor(0.0002)
    _feed(learned, sends[:FIRST])
    assert learned.start == NEVER


def test_on_the_runs_grid_the_first_message_places_the_next_window() -> None:
    period = 0.002
    pred = ArrivalPredictor(0.0002, period=period, on_grid=True)
    pred.arrived(0.0009, 0.0012)  # the first tick (due at 0) ran 0.9 ms late
    # the next tick is due at 2 ms, whatever the first one's lateness and delivery
    assert pred.wake <= pred.start < period < pred.end < NEVER
    later = ArrivalPredictor(0.0002, period=period, on_grid=True)
    later.arrived(7 * period + 0.0001, 7 * period + 0.0002)  # e.g. after a restart
    assert later.start < 8 * period < later.end
    # the grid needs the period: without one the flag changes nothing
    assert ArrivalPredictor(0.0002, on_grid=True).on_grid is False


def test_a_known_period_rides_out_late_ticks_but_not_a_scattered_stream() -> None:
    period = 0.002
    pred = ArrivalPredictor(0.0002, period=period)
    sends = [1.0 + k * period for k in range(12)]
    for k in (6, 8, 9, 10):  # a loaded sender: four of the last nine ticks late
        sends[k] += 0.0006
    _feed(pred, sends)
    due = 1.0 + 12 * period + DELIVERY
    assert pred.start < due < pred.end  # still on the grid
    learned = ArrivalPredictor(0.0002)
    _feed(learned, sends)
    assert learned.start == NEVER  # more than TRIM late: irregular when learned
    rng = random.Random(3)
    scattered = ArrivalPredictor(0.0002, period=period)
    for k in range(40):  # sends anywhere within each period: no window
        t = 1.0 + k * period + rng.uniform(0.0, 0.0015)
        scattered.arrived(t, t + DELIVERY)
    assert scattered.start == NEVER


def test_the_period_is_known_for_rate_and_tick_sources_only() -> None:
    @io
    class N:
        n: int

    class Src(Flow[None, N]):
        def step(self, _: None) -> N:
            return N(n=1)

    class Relay(Flow[N, N]):
        def step(self, inp: N) -> N:
            return inp

    with Pipeline("p") as pipe:
        rate = (Src() @ Rate(hz=500)).named("rate")
        tick = (Src() @ Tick(hz=250)).named("tick")
        relay = (Relay() @ Trigger("n")).named("relay")
        hybrid = (Relay() @ Hybrid(hz=100, trigger=["n"])).named("hybrid")
        pipe.connect(rate, relay, sync=Latest())
        pipe.connect(tick, hybrid, sync=Latest())
    ir = lower(pipe)
    assert send_period(ir.node("rate")) == 1 / 500
    assert send_period(ir.node("tick")) == 1 / 250
    assert send_period(ir.node("relay")) == 0.0
    assert send_period(ir.node("hybrid")) == 0.0


def test_irregular_stream_never_spins() -> None:
    pred = ArrivalPredictor(0.0002)
    rng = random.Random(7)
    t = 1.0
    for _ in range(200):
        t += rng.uniform(0.001, 0.004)  # gaps spread far wider than a window
        pred.arrived(t, t + DELIVERY)
        assert pred.start == pred.end == NEVER


def test_late_messages_do_not_stop_the_spinning() -> None:
    pred = ArrivalPredictor(0.0002)
    sends = [1.0 + k * 0.002 for k in range(12)]
    for k in range(TRIM):  # each late send makes one long and one short gap
        sends[5 + 3 * k] += 0.0008
    _feed(pred, sends)
    assert pred.start < NEVER
    sends.append(sends[-1] + 0.002)
    sends[-1] += 0.0008  # one more late send in the history: now it is irregular
    _feed(pred, sends[-1:])
    _feed(pred, [sends[-2] + 2 * 0.002])
    assert pred.start == NEVER


def test_a_late_send_does_not_move_the_next_prediction() -> None:
    period = 0.002
    on_time = ArrivalPredictor(0.0002)
    late = ArrivalPredictor(0.0002)
    sends = [1.0 + k * period for k in range(12)]
    _feed(on_time, sends)
    sends[-1] += 0.0003  # the sender's timer woke it 300 µs late, once
    _feed(late, sends)
    # the next message is due on the stream's grid, not a period after the late one
    assert abs(late.start - on_time.start) < 1e-9
    assert abs(late.end - on_time.end) < 1e-9


def test_window_stays_open_for_a_late_message() -> None:
    period = 0.002
    pred = ArrivalPredictor(0.0002)
    sends = [1.0 + k * period for k in range(12)]
    _feed(pred, sends)
    due = sends[-1] + period + DELIVERY
    # a sender woken 300 µs late by its own timer still meets a polling worker
    assert pred.end > due + 0.0003


def test_fast_stream_never_spins() -> None:
    pred = ArrivalPredictor(0.0002)
    _feed(pred, [1.0 + k * MIN_PERIOD * 0.5 for k in range(50)])
    assert pred.start == NEVER


def test_window_is_capped_by_the_bound_and_by_a_share_of_the_period() -> None:
    for period in (0.0006, 0.001, 0.002, 0.005):
        pred = ArrivalPredictor(0.0005, _punctual())
        sends = [1.0 + k * period for k in range(20)]
        _feed(pred, sends)
        due = sends[-1] + period + DELIVERY
        base = min(0.0005, SHARE * period)
        assert 0.0 < due - pred.start <= LEAD * base + 1e-12, period
        assert pred.wake == pred.start  # punctual wake-ups: no earlier wake
        assert 0.0 < pred.end - due <= LEAD_SHARE * period + 1e-12, period


def test_streams_slower_than_the_bound_get_no_window() -> None:
    # 100 Hz: a cold wake-up is a few hundredths of its period, not worth a window
    for period in (MAX_PERIOD * 1.05, 0.01, 1.0):
        pred = ArrivalPredictor(0.0002)
        sends = [1.0 + k * period for k in range(40)]
        for t in sends:
            pred.arrived(t, t + DELIVERY)
            assert pred.start == pred.wake == pred.end == NEVER, period
    # a little faster than the bound (200 Hz), the same stream shape does get one
    pred = ArrivalPredictor(0.0002)
    _feed(pred, [1.0 + k * MAX_PERIOD * 0.95 for k in range(20)])
    assert pred.wake <= pred.start < pred.end < NEVER


def test_a_stream_that_speeds_up_gets_windows_within_a_history() -> None:
    pred = ArrivalPredictor(0.0002)
    t = 1.0
    for _ in range(30):  # 100 Hz: recorded only, analysed every HISTORY messages
        t += 0.01
        pred.arrived(t, t + DELIVERY)
    assert pred.start == NEVER
    seen = []
    for _ in range(2 * HISTORY + 2):  # now 500 Hz
        t += 0.002
        pred.arrived(t, t + DELIVERY)
        seen.append(pred.start < NEVER)
    assert seen[-1] and seen.index(True) <= 2 * HISTORY
    due = t + 0.002 + DELIVERY
    assert pred.start < due < pred.end


def test_off_switch_and_a_stream_that_stops() -> None:
    off = ArrivalPredictor(0.0)
    _feed(off, [1.0 + k * 0.002 for k in range(20)])
    assert off.start == off.end == NEVER and off.window == 0.0
    on = ArrivalPredictor(0.0002)
    _feed(on, [1.0 + k * 0.002 for k in range(20)])
    # one window per message: once it has closed nothing is due until the next one
    assert on.end < 1.0 + 20 * 0.002 + 0.001
    assert off.wake == NEVER


def test_late_wake_ups_wake_the_worker_earlier_within_a_share_of_the_period() -> None:
    late = _punctual()
    pred = ArrivalPredictor(0.0002, late)
    period = 0.002
    sends = [1.0 + k * period for k in range(12)]
    _feed(pred, sends)
    due = sends[-1] + period + DELIVERY
    on_time = due - pred.wake
    for _ in range(LATE_HISTORY):
        late.woke(0.0002)  # this machine's timer wake-ups come 200 µs late
    _feed(pred, [sends[-1] + period])
    due += period
    assert due - pred.wake > on_time  # wakes earlier than with punctual wake-ups
    assert abs((due - pred.wake) - LATE_MARGIN * 0.0002) < 1e-9
    assert abs((due - pred.start) - on_time) < 1e-9  # polling still starts as late
    for _ in range(LATE_HISTORY):
        late.woke(0.01)  # absurdly late: the lead stays within its share of the period
    _feed(pred, [sends[-1] + 2 * period])
    due += period
    assert abs((due - pred.wake) - LEAD_SHARE * period) < 1e-9
    assert abs((pred.end - due) - LEAD_SHARE * period) < 1e-9


def test_lateness_is_a_tail_estimate_of_recent_wake_ups() -> None:
    late = WakeLateness()
    assert late.estimate == LATE_PRIOR  # unmeasured: assume a virtual machine's tail
    for _ in range(LATE_KNOWN - 1):
        late.woke(-1.0)
    assert late.estimate == LATE_PRIOR
    late.woke(-1.0)
    assert late.estimate == 0.0  # measured punctual (early wake-ups count as punctual)
    for k in range(LATE_HISTORY):
        late.woke(k * 1e-5)
    # the LATE_RANK-th largest: the very largest (one outlier) is ignored
    assert late.estimate == (LATE_HISTORY - LATE_RANK) * 1e-5
    assert LATE_RANK >= 2
    for _ in range(LATE_HISTORY):
        late.woke(0.0)
    assert late.estimate == 0.0  # old lateness is forgotten


def test_the_first_windows_wake_the_worker_early() -> None:
    period = 0.002
    sends = [1.0 + k * period for k in range(12)]
    fresh = ArrivalPredictor(0.0002, period=period)
    measured = ArrivalPredictor(0.0002, _punctual(), period=period)
    _feed(fresh, sends)
    _feed(measured, sends)
    due = sends[-1] + period + DELIVERY
    assert abs((due - fresh.wake) - LATE_MARGIN * LATE_PRIOR) < 1e-9
    assert measured.wake == measured.start  # measured punctual: no earlier wake
    assert fresh.start == measured.start  # polling starts as late either way


def test_streams_in_shared_memory_slots_get_windows_at_camera_rates() -> None:
    # a 30 Hz frame stream: the saved wake-up is most of a loaned frame's latency
    period = 1 / 30
    pred = ArrivalPredictor(0.0002)
    sends = [1.0 + k * period for k in range(20)]
    for t in sends:
        pred.arrived(t, t + DELIVERY, large=True)
    due = sends[-1] + period + DELIVERY
    assert pred.wake <= pred.start < due < pred.end < NEVER
    # the same stream of small messages is left to wake the worker
    small = ArrivalPredictor(0.0002)
    for t in sends:
        small.arrived(t, t + DELIVERY)
    assert small.start == small.wake == small.end == NEVER
