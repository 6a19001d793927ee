"""Tests of the sampling adapters in retriever.flow.adapter."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retriever.contract.errors import ConfigError
from retriever.flow.adapter import (
    WINDOW_AGGS,
    Adapter,
    Chunking,
    Events,
    Exact,
    Hold,
    Latest,
    Linear,
    Window,
    adapter_from_config,
    register_adapter,
    registered_adapters,
)

BUF: list[tuple[float, Any]] = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 4.0)]


_CHUNK: list[tuple[float, Any]] = [(1.0, [10, 11, 12])]
_DUP: list[tuple[float, Any]] = [(1.0, "a"), (1.0, "b"), (2.0, "c")]
_NEAR: list[tuple[float, Any]] = [(1.0, "a"), (1.3, "b"), (2.0, "c")]
_LDUP: list[tuple[float, Any]] = [(0.0, 0.0), (1.0, 1.0), (1.0, 3.0), (2.0, 5.0)]
_STR: list[tuple[float, Any]] = [(0.0, "a"), (1.0, "b")]

# (adapter, buffer, now, expected): pointwise behaviour of the stateless adapters
CASES: list[tuple[Adapter, Any, float | None, Any]] = [
    (Latest(), BUF, None, 4.0),  # now=None -> newest
    (Latest(), BUF, 3.0, 4.0),
    (Latest(), BUF, 1.5, 3.0),
    (Latest(), BUF, 1.0, 3.0),
    (Latest(), BUF, 2.999, 5.0),  # future samples ignored
    (Latest(), BUF, -0.1, None),  # before the first sample
    (Latest(), [], None, None),
    (Latest(), _DUP, 1.0, "b"),  # duplicate timestamps: last entry
    (Latest(), _DUP, 1.5, "b"),
    (Latest(), tuple(_STR), 0.5, "a"),  # any sequence works
    (Exact(), BUF, 1.0, 3.0),
    (Exact(), BUF, 1.0 + 1e-7, 3.0),
    (Exact(), BUF, 1.5, None),
    (Exact(), [], 1.0, None),
    (Exact(), BUF, None, 4.0),
    (Exact(0.5), _NEAR, 1.2, "b"),  # a future sample nearer than the past one
    (Exact(0.5), _NEAR, 1.1, "a"),
    (Exact(0.5), _NEAR, 0.7, "a"),  # before the first sample
    (Exact(0.1), _NEAR, 2.05, "c"),
    (Exact(1.0), [(0.0, "past"), (1.0, "future")], 0.5, "past"),  # tie -> past
    (Exact(0.0), BUF, 2.0, 5.0),
    (Exact(0.0), BUF, 2.0000001, None),
    (Linear(), BUF, 0.5, 2.0),
    (Linear(), BUF, 2.25, 4.75),
    (Linear(), BUF, 1.0, 3.0),
    (Linear(), [(0.0, 0), (2.0, 1)], 1.0, 0.5),  # ints interpolate to float
    (Linear(), BUF, -3.0, 1.0),  # before first -> first
    (Linear(), BUF, 30.0, 4.0),  # after last -> last
    (Linear(), BUF, None, 4.0),
    (Linear(), [], 1.0, None),
    (Linear(), [(1.0, 9.0)], 0.0, 9.0),
    (Linear(), _STR, 0.9, "a"),  # non-numeric: newest at or before now
    (Linear(), [(0.0, True), (1.0, False)], 0.5, True),  # bools are not interpolated
    (Linear(), _LDUP, 1.0, 3.0),
    (Linear(), _LDUP, 1.5, 4.0),
    (Chunking(dt=0.1), _CHUNK, 1.0, 10),
    (Chunking(dt=0.1), _CHUNK, 1.1, 11),  # float rounding of (1.1 - 1.0) / 0.1
    (Chunking(dt=0.1), _CHUNK, 1.19, 11),
    (Chunking(dt=0.1), _CHUNK, 1.2, 12),
    (Chunking(dt=0.1), _CHUNK, None, 10),
    (Chunking(dt=0.1), _CHUNK, 5.0, 12),  # clamped to the last element
    (Chunking(dt=0.1), _CHUNK, 0.5, None),  # chunk is in the future
    (Chunking(dt=0.1), [], 1.0, None),
    (Chunking(dt=0.1), [(0.0, [])], 1.0, None),
    (Chunking(0.5), [(0.0, "abc"), (1.0, "xyz"), (9.0, "fut")], 1.6, "y"),
    (Chunking(0.5), [(0.0, "abc"), (1.0, "xyz"), (9.0, "fut")], 0.7, "b"),
    (Window(2.0, "first"), BUF, 3.0, 3.0),
    (Window(2.0, "last"), BUF, 3.0, 4.0),
    (Window(2.0, "max"), BUF, 3.0, 5.0),
    (Window(2.0, "min"), BUF, 3.0, 3.0),
    (Window(2.0, "mean"), BUF, 3.0, 4.0),
    (Window(1.0), BUF, 2.5, 5.0),  # default agg is last
    (Window(1.0, "first"), BUF, 2.0, 3.0),  # ts == now - duration is included
    (Window(0.0, "mean"), BUF, 1.0, 3.0),
    (Window(10.0, "max"), BUF, 1.5, 3.0),  # future excluded
    (Window(10.0, "mean"), BUF, None, 13.0 / 4),
    (Window(5.0, "mean"), [(0.0, 1), (1.0, 2)], None, 1.5),
    (Events(1.0), BUF, 2.0, [(1.0, 3.0), (2.0, 5.0)]),
    (Events(1.0), BUF, None, [(2.0, 5.0), (3.0, 4.0)]),
    (Events(100.0), BUF, 1.5, BUF[:2]),
    (Events(100.0), tuple(BUF), None, BUF),
    (Events(1.0), [], None, []),
    (Events(0.1), BUF, 1.5, []),
]


@pytest.mark.parametrize(("adapter", "buf", "now", "expected"), CASES)
def test_pointwise(adapter: Adapter, buf: Any, now: float | None, expected: Any) -> None:
    got = adapter(buf, now, port="ignored")
    if isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected and type(got) is type(expected)


# (debounce, buffer, [(now, expected), ...]) fed in order to one Hold instance
HOLD_RUNS: list[tuple[float, Any, list[tuple[float | None, Any]]]] = [
    (0.0, BUF, [(0.5, 1.0), (1.5, 3.0), (2.0, 5.0), (None, 4.0)]),  # no debounce: latest
    # 0.999: a newer value exists but the debounce has not elapsed; 1.0: exactly elapsed
    (1.0, BUF, [(0.0, 1.0), (0.5, 1.0), (0.999, 1.0), (1.0, 3.0), (1.9, 3.0), (2.5, 5.0)]),
    (1.0, BUF, [(2.5, 5.0), (3.2, 5.0), (3.5, 4.0)]),
    (0.05, [(0.1, "a"), (0.15, "b")], [(0.1, "a"), (0.15, "b")]),  # float rounding slack
    (10.0, [(1.0, "x")], [(0.5, None), (1.0, "x")]),  # waiting for data is not a take
    (1.0, BUF, [(3.0, 4.0), (0.5, 1.0)]),  # clock going backwards forces a take
]


@pytest.mark.parametrize(("debounce", "buf", "steps"), HOLD_RUNS)
def test_hold_runs(debounce: float, buf: Any, steps: list[tuple[float | None, Any]]) -> None:
    h = Hold(debounce=debounce)
    assert [h(buf, now) for now, _ in steps] == [want for _, want in steps]


def test_hold_keeps_value_when_buffer_empties() -> None:
    h = Hold()
    assert h([], 0.0) is None
    assert h([(0.0, 7)], 0.0) == 7
    assert h([], 1.0) == 7
    assert h([]) == 7
    assert h([(5.0, 8)], 1.0) == 7  # only a future sample: keep holding


def test_hold_fresh_drops_state_and_equality_ignores_state() -> None:
    h = Hold(debounce=5.0)
    h(BUF, 0.0)
    assert h(BUF, 3.0) == 1.0
    assert h == Hold(debounce=5.0)
    f = h.fresh()
    assert f == h and f is not h
    assert f(BUF, 3.0) == 4.0


def test_window_empty_cases() -> None:
    for agg in WINDOW_AGGS:
        assert Window(1.0, agg)([], 1.0) is None
        assert Window(0.4, agg)(BUF, 1.5) is None  # nothing in [1.1, 1.5]
        assert Window(1.0, agg)(BUF, -1.0) is None


def test_window_numpy_arrays() -> None:
    buf = [(0.0, np.array([1.0, 4.0])), (1.0, np.array([3.0, 0.0]))]
    np.testing.assert_allclose(Window(5.0, "mean")(buf), [2.0, 2.0])
    np.testing.assert_allclose(Window(5.0, "max")(buf), [3.0, 4.0])
    np.testing.assert_allclose(Window(5.0, "min")(buf), [1.0, 0.0])
    np.testing.assert_allclose(Window(5.0, "last")(buf), [3.0, 0.0])


def test_window_mean_rejects_non_numeric() -> None:
    with pytest.raises(TypeError):
        Window(5.0, "mean")([(0.0, "a"), (1.0, "b")])
    with pytest.raises(TypeError):
        Window(5.0, "mean")([(0.0, np.zeros(2)), (1.0, np.zeros(3))])


def test_events_returns_copy() -> None:
    buf = list(BUF)
    out = Events(100.0)(buf)
    out.clear()
    assert buf == BUF


def test_linear_numpy_arrays() -> None:
    buf = [(0.0, np.array([0.0, 10.0])), (1.0, np.array([1.0, 20.0]))]
    np.testing.assert_allclose(Linear()(buf, 0.25), [0.25, 12.5])
    int_buf = [(0.0, np.array([0, 2])), (1.0, np.array([2, 4]))]
    np.testing.assert_allclose(Linear()(int_buf, 0.5), [1.0, 3.0])
    shapes = [(0.0, np.zeros(2)), (1.0, np.zeros(3))]  # mismatched: newest at or before now
    assert Linear()(shapes, 0.5).shape == (2,)


def test_chunking_numpy_rows() -> None:
    chunk = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(Chunking(0.02)([(0.0, chunk)], 0.05), chunk[2])


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda: Window(-1.0), "duration"),
        (lambda: Window(float("nan")), "duration"),
        (lambda: Window("1"), "duration"),  # type: ignore[arg-type]
        (lambda: Window(1.0, "median"), "agg"),
        (lambda: Events(-0.5), "duration"),
        (lambda: Exact(-1e-3), "tolerance"),
        (lambda: Hold(-0.1), "debounce"),
        (lambda: Hold(True), "debounce"),
        (lambda: Chunking(0.0), "dt"),
        (lambda: Chunking(-0.1), "dt"),
        (lambda: Chunking(math.nan), "dt"),
    ],
)
def test_bad_params_raise_config_error(make: Callable[[], Adapter], param: str) -> None:
    with pytest.raises(ConfigError, match=param):
        make()


def test_transforms_type_flags() -> None:
    assert Events.transforms_type and Chunking.transforms_type
    for cls in (Latest, Hold, Window, Exact, Linear):
        assert cls.transforms_type is False


BUILTINS: list[Adapter] = [Latest(), Hold(), Hold(debounce=0.25), Window(1.5), Events(0.5)]
BUILTINS += [Window(2, agg="mean"), Exact(), Exact(tolerance=0.01), Linear(), Chunking(dt=0.02)]


@pytest.mark.parametrize("adapter", BUILTINS, ids=repr)
def test_builtin_config_round_trip(adapter: Adapter) -> None:
    cfg = adapter.to_config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert adapter_from_config(cfg) == adapter
    assert adapter_from_config(json.loads(json.dumps(cfg))) == adapter
    assert adapter.fresh() == adapter


def test_builtin_names_registered() -> None:
    reg = registered_adapters()
    classes = (Latest, Hold, Window, Events, Exact, Linear, Chunking)
    for cls in classes:
        name = cls.__name__.lower()
        assert reg[name] is cls
        assert cls.name == name
    reg.clear()  # a copy: the registry is untouched
    assert "latest" in registered_adapters()


def test_equality_by_class_and_params() -> None:
    assert Window(1.0, "max") == Window(1.0, "max")
    assert Window(1.0, "max") != Window(1.0, "min")
    assert Latest() != Linear()
    assert Window(1, "last") == Window(1.0)


def test_config_minimal_and_errors() -> None:
    assert adapter_from_config({"name": "latest"}) == Latest()
    with pytest.raises(ConfigError) as err:
        adapter_from_config({"name": "nope", "params": {}})
    assert "import" in err.value.hint
    with pytest.raises(ConfigError):
        adapter_from_config({"params": {}})
    with pytest.raises(ConfigError):
        adapter_from_config({"name": "window", "params": {"bogus": 1}})
    with pytest.raises(ConfigError):
        adapter_from_config({"name": "window", "params": [1]})
    with pytest.raises(ConfigError, match="agg"):
        adapter_from_config({"name": "window", "params": {"duration": 1, "agg": "sum"}})


@register_adapter("test_actionchunking")
@dataclass
class ActionChunking(Chunking):
    """Chunking that interpolates between chunk steps."""

    blend: bool = True

    def __call__(self, buffer: Any, now: float | None = None, **kwargs: Any) -> Any:
        if not buffer or not self.blend:
            return super().__call__(buffer, now)
        t = buffer[-1][0] if now is None else now
        ts0, chunk = buffer[-1]
        x = min(max((t - ts0) / self.dt, 0.0), len(chunk) - 1.0)
        i = min(int(x), len(chunk) - 2)
        return chunk[i] + (chunk[i + 1] - chunk[i]) * (x - i)


def test_custom_subclass_registration_and_round_trip() -> None:
    a = ActionChunking(dt=0.1, blend=True)
    cfg = a.to_config()
    assert cfg == {"name": "test_actionchunking", "params": {"dt": 0.1, "blend": True}}
    back = adapter_from_config(cfg)
    assert type(back) is ActionChunking and back == a
    assert back != ActionChunking(dt=0.1, blend=False)
    assert a != Chunking(dt=0.1)
    assert Chunking(0.1).to_config()["name"] == "chunking"  # parent keeps its name
    assert a([(0.0, [0.0, 1.0, 2.0])], 0.15) == pytest.approx(1.5)
    assert ActionChunking(dt=0.1, blend=False)([(0.0, [0.0, 1.0])], 0.15) == 1.0
    assert ActionChunking.transforms_type is True
    with pytest.raises(ConfigError, match="dt"):
        ActionChunking(dt=0)


def test_register_conflicts_and_reload() -> None:
    @register_adapter("test_conflict")
    @dataclass(eq=False)
    class First(Adapter):
        def __call__(self, buffer: Any, now: float | None = None, **kwargs: Any) -> Any:
            return "first"

    @dataclass(eq=False)
    class Second(Adapter):
        def __call__(self, buffer: Any, now: float | None = None, **kwargs: Any) -> Any:
            return "second"

    with pytest.raises(ConfigError, match="already registered"):
        register_adapter("test_conflict")(Second)
    assert register_adapter("test_conflict")(First) is First  # same class again: fine

    def make() -> type[Adapter]:
        @dataclass(eq=False)
        class Reloaded(Adapter):
            k: int = 1

        return Reloaded

    one, two = make(), make()  # same module + qualname, as after a module reload
    register_adapter("test_reload")(one)
    register_adapter("test_reload")(two)
    assert registered_adapters()["test_reload"] is two
    assert adapter_from_config({"name": "test_reload", "params": {"k": 3}}) == two(k=3)  # type: ignore[call-arg]


def test_register_rejects_non_adapters_and_bad_names() -> None:
    with pytest.raises(ConfigError):
        register_adapter("test_not_adapter")(int)  # type: ignore[type-var]
    with pytest.raises(ConfigError):
        register_adapter("")


def test_unregistered_subclass_cannot_serialize() -> None:
    @dataclass(eq=False)
    class Unregistered(Latest):
        pass

    with pytest.raises(ConfigError, match="not registered"):
        Unregistered().to_config()


def test_alias_keeps_canonical_name() -> None:
    @register_adapter("test_canonical")
    @dataclass(eq=False)
    class Aliased(Latest):
        pass

    register_adapter("test_alias")(Aliased)
    assert Aliased().to_config()["name"] == "test_canonical"
    assert type(adapter_from_config({"name": "test_alias"})) is Aliased


def test_non_dataclass_adapter_params() -> None:
    @register_adapter("test_plain")
    class Plain(Adapter):
        def __init__(self, gain: float = 1.0) -> None:
            self.gain = gain
            self._cache: list[Any] = []

        def __call__(self, buffer: Any, now: float | None = None, **kwargs: Any) -> Any:
            v = Latest()(buffer, now)
            return None if v is None else v * self.gain

    p = Plain(2.0)
    assert p.to_config() == {"name": "test_plain", "params": {"gain": 2.0}}
    assert adapter_from_config(p.to_config()) == p
    assert p.fresh() == p and p != Plain(3.0)
    assert p(BUF, 1.0) == 6.0


def test_base_adapter_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        Adapter()([(0.0, 1)])


def test_to_config_converts_numpy_params() -> None:
    cfg = Window(np.float64(0.5), "mean").to_config()
    assert type(cfg["params"]["duration"]) is float


Buf = list[tuple[float, int]]
stamps = st.lists(
    st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda x: round(x, 3)),
    max_size=30,
)
values = st.integers(min_value=-1000, max_value=1000)
nows = st.floats(min_value=-110, max_value=110, allow_nan=False)


@st.composite
def buffers(draw: st.DrawFn) -> Buf:
    ts = sorted(draw(stamps))
    return [(t, draw(values)) for t in ts]


def _brute_latest(buf: Buf, now: float) -> int | None:
    best = None
    for t, v in buf:
        if t <= now:
            best = v  # last of the max timestamp, because buf is sorted
    return best


@given(buffers(), nows)
def test_prop_latest_matches_brute_force(buf: Buf, now: float) -> None:
    assert Latest()(buf, now) == _brute_latest(buf, now)
    if buf:
        assert Latest()(buf) == buf[-1][1]


@given(buffers(), nows, st.floats(min_value=0, max_value=50), st.sampled_from(WINDOW_AGGS))
def test_prop_window_matches_brute_force(buf: Buf, now: float, duration: float, agg: str) -> None:
    inside = [v for t, v in buf if now - duration <= t <= now]
    got = Window(duration, agg)(buf, now)
    if not inside:
        assert got is None
        return
    firsts = {"first": inside[0], "last": inside[-1], "max": max(inside), "min": min(inside)}
    expected = firsts.get(agg, sum(inside) / len(inside))
    assert got == pytest.approx(expected)


@given(buffers(), nows, st.floats(min_value=0, max_value=50))
def test_prop_events_matches_brute_force(buf: Buf, now: float, duration: float) -> None:
    assert Events(duration)(buf, now) == [(t, v) for t, v in buf if now - duration <= t <= now]


@given(buffers(), nows, st.floats(min_value=0, max_value=5))
def test_prop_exact_matches_brute_force(buf: Buf, now: float, tol: float) -> None:
    cands = [(abs(t - now), t > now, -i, v) for i, (t, v) in enumerate(buf)]
    cands = [c for c in cands if c[0] <= tol]
    expected = min(cands)[3] if cands else None
    assert Exact(tol)(buf, now) == expected


@given(buffers(), nows)
def test_prop_linear_consistent(buf: Buf, now: float) -> None:
    got = Linear()(buf, now)
    if not buf:
        assert got is None
        return
    before = [(t, v) for t, v in buf if t <= now]
    after = [(t, v) for t, v in buf if t > now]
    if not before:
        assert got == buf[0][1]
    elif not after:
        assert got == buf[-1][1]
    else:
        (t0, v0), (t1, v1) = before[-1], after[0]
        assert got == pytest.approx(v0 + (v1 - v0) * (now - t0) / (t1 - t0))
        assert min(v0, v1) - 1e-9 <= got <= max(v0, v1) + 1e-9


@given(buffers(), nows, st.floats(min_value=0.001, max_value=10))
def test_prop_chunking_matches_brute_force(buf: Buf, now: float, dt: float) -> None:
    chunked = [(t, [(t, v, k) for k in range(3)]) for t, v in buf]
    past = [(t, c) for t, c in chunked if t <= now]
    got = Chunking(dt)(chunked, now)
    if not past:
        assert got is None
    else:
        ts0, chunk = past[-1]
        assert got == chunk[min(max(math.floor((now - ts0) / dt + 1e-9), 0), 2)]


@given(buffers(), st.lists(nows, max_size=10), st.floats(min_value=0, max_value=5))
def test_prop_hold_returns_latest_or_held(buf: Buf, times: list[float], debounce: float) -> None:
    h = Hold(debounce)
    prev: int | None = None
    for now in sorted(times):
        got = h(buf, now)
        assert got in (prev, _brute_latest(buf, now))
        if debounce == 0 and _brute_latest(buf, now) is not None:
            assert got == _brute_latest(buf, now)
        prev = got
