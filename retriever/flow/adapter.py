"""Sampling adapters: how an input port's timed buffer is read at step time ``now``.

An adapter receives the port's history as a list of ``(timestamp_seconds, value)``
pairs sorted by timestamp and turns it into the single value (or list of events)
handed to ``Flow.step``. Adapters are dataclasses whose fields are their parameters,
so they compare by value and serialize to ``{"name": ..., "params": {...}}``.

Custom adapters subclass :class:`Adapter` (or a built-in) and are made loadable from
configuration with :func:`register_adapter`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar

import numpy as np

from retriever.contract import sampling
from retriever.contract.errors import ConfigError
from retriever.contract.values import WINDOW_AGGS, agg_problem, seconds_problem

from .context import value_problem

__all__ = [
    "Adapter",
    "Chunking",
    "Events",
    "Exact",
    "Hold",
    "Latest",
    "Linear",
    "WINDOW_AGGS",
    "Window",
    "WindowAgg",
    "adapter_from_config",
    "register_adapter",
    "registered_adapters",
]

_A = TypeVar("_A", bound="Adapter")
_TS = itemgetter(0)
_Buffer: TypeAlias = Sequence[tuple[float, Any]]
_EPS = 1e-9

#: Aggregations of :class:`Window` (mypy checks literal spellings).
WindowAgg = Literal["first", "last", "max", "min", "mean"]

_REGISTRY: dict[str, type[Adapter]] = {}
_CANONICAL: dict[type[Adapter], str] = {}


def _newest_at_or_before(buffer: _Buffer, now: float) -> int:
    """Index of the newest entry whose timestamp is ``<= now``; ``-1`` if there is none."""
    n = len(buffer)
    if n == 0:
        return -1
    if buffer[-1][0] <= now:  # common case: nothing in the future, O(1)
        return n - 1
    return bisect_right(buffer, now, key=_TS) - 1


def _span(buffer: _Buffer, now: float, duration: float) -> tuple[int, int]:
    """Half-open index range of the entries with ``now - duration <= ts <= now``."""
    hi = len(buffer) if buffer[-1][0] <= now else bisect_right(buffer, now, key=_TS)
    lo = bisect_left(buffer, now - duration, 0, hi, key=_TS)
    return lo, hi


def _real_param(owner: str, param: str, value: object, *, positive: bool = False) -> float:
    """Validate a numeric parameter (non-negative, or strictly positive) and return it as float.

    While a checked module loads, a bad value is recorded and replaced by a harmless one.
    """
    if value_problem(seconds_problem(owner, param, value, positive=positive)):
        return 1.0
    return float(value)  # type: ignore[arg-type]


def _jsonable(value: Any) -> Any:
    """Convert a parameter value to plain JSON types where a simple conversion exists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class Adapter:
    """Base class of sampling adapters.

    Subclasses implement :meth:`__call__` and are normally dataclasses whose
    fields are the parameters. Internal state (as in :class:`Hold`) lives in
    fields declared with ``init=False`` so it is excluded from parameters,
    equality and serialization.
    """

    #: Name under which the class is registered (set by :func:`register_adapter`).
    name: ClassVar[str] = ""
    #: True when the returned value has a different type than the stored values.
    transforms_type: ClassVar[bool] = False
    #: Buffered history a port keeps when its EdgeConfig sets no ``qsize``. Adapters
    #: that only ever look at the newest value keep very little, so large payloads
    #: (camera frames in shared memory) are released promptly.
    default_history: ClassVar[int] = 64

    def output_kind(self) -> str:
        """What this adapter hands to ``step``, as a :mod:`retriever.contract.sampling` kind.

        The stored type itself by default; ``unknown`` (port types not compared) for a
        subclass that sets ``transforms_type`` without overriding this method.
        """
        return sampling.UNKNOWN if self.transforms_type else sampling.SAME

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Sample ``buffer`` (ascending ``(ts, value)`` pairs) at time ``now``.

        ``now=None`` means the newest timestamp in the buffer. Returns ``None``
        when there is nothing to return.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def params(self) -> dict[str, Any]:
        """The constructor parameters of this adapter, by name (no internal state)."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def to_config(self) -> dict[str, Any]:
        """Serialize as ``{"name": registered_name, "params": {...}}`` (JSON-able)."""
        cls = type(self)
        name = _CANONICAL.get(cls)
        if name is None:
            raise ConfigError(
                f"adapter class {cls.__qualname__} is not registered, so it cannot be serialized",
                hint=f'decorate it with @register_adapter("<name>") (from {__name__})',
            )
        return {"name": name, "params": {k: _jsonable(v) for k, v in self.params().items()}}

    def fresh(self: _A) -> _A:
        """A new adapter with the same parameters and no internal state."""
        return type(self)(**self.params())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Adapter):
            return NotImplemented
        return self.params() == other.params()


def _ident(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_adapter(name: str) -> Callable[[type[_A]], type[_A]]:
    """Class decorator registering an adapter class under ``name``.

    Registered adapters can be rebuilt with :func:`adapter_from_config`.
    Registering a *different* class under a taken name raises
    :class:`~retriever.contract.errors.ConfigError`; registering the same class
    again (e.g. on module reload) replaces the entry. The first name a class is
    registered under is the one it serializes under; further names are aliases.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"adapter name must be a non-empty string, got {name!r}")

    def decorate(cls: type[_A]) -> type[_A]:
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise ConfigError(
                f"@register_adapter({name!r}) applied to {cls!r}, which is not an Adapter",
                hint="subclass retriever.flow.adapter.Adapter",
            )
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            old, new = _ident(existing), _ident(cls)
            if old != new:  # same module + qualname means a reload: accept it
                raise ConfigError(
                    f"adapter name {name!r} is already registered by {old}",
                    hint=f"pick another name for {new}",
                )
        _REGISTRY[name] = cls
        if cls not in _CANONICAL:
            _CANONICAL[cls] = name
            cls.name = name
        return cls

    return decorate


def registered_adapters() -> dict[str, type[Adapter]]:
    """A copy of the registry: name -> adapter class (aliases included)."""
    return dict(_REGISTRY)


def adapter_from_config(cfg: Mapping[str, Any]) -> Adapter:
    """Rebuild an adapter from the output of :meth:`Adapter.to_config`."""
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("name"), str):
        raise ConfigError(
            f"adapter config must be a mapping with a string 'name', got {cfg!r}",
            hint='expected {"name": "latest", "params": {}}',
        )
    name: str = cfg["name"]
    params = cfg.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"adapter {name!r}: 'params' must be a mapping, got {params!r}")
    cls = _REGISTRY.get(name)
    if cls is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(
            f"unknown adapter {name!r} (registered: {known})",
            hint="import the module that defines this adapter first; its "
            "@register_adapter decorator registers it at import time",
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(
            f"adapter {name!r} rejected params {dict(params)!r}: {exc}",
            hint=f"check the parameter names of {cls.__qualname__}",
        ) from exc


@register_adapter("latest")
@dataclass(eq=False)
class Latest(Adapter):
    """The newest value whose timestamp is at or before ``now`` (O(1) when none is newer)."""

    default_history: ClassVar[int] = 2

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the newest value with ``ts <= now``, or ``None``."""
        if not buffer:
            return None
        last = buffer[-1]
        if now is None or last[0] <= now:
            return last[1]
        i = bisect_right(buffer, now, key=_TS)
        return buffer[i - 1][1] if i else None


@register_adapter("hold")
@dataclass(eq=False)
class Hold(Adapter):
    """Zero-order hold with optional rate limiting.

    The adapter remembers the value it last took and the ``now`` at which it took
    it. It keeps returning that value until at least ``debounce`` seconds of
    ``now`` have passed (1e-9 s slack for float rounding), then takes the newest
    value with ``ts <= now``. If nothing is available it keeps the held value.
    A ``now`` earlier than the last take (clock reset, replay) forces a new take.
    """

    default_history: ClassVar[int] = 2

    debounce: float = 0.0
    _taken_at: float | None = field(default=None, init=False, repr=False, compare=False)
    _value: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.debounce = _real_param("Hold", "debounce", self.debounce)

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the held value, refreshing it when the debounce interval has elapsed."""
        if now is None:
            if not buffer:
                return self._value
            now = buffer[-1][0]
        taken = self._taken_at
        if taken is not None and taken <= now and now - taken < self.debounce - _EPS:
            return self._value
        i = _newest_at_or_before(buffer, now)
        if i >= 0:
            self._value = buffer[i][1]
            self._taken_at = now
        return self._value


def _agg_max(values: list[Any]) -> Any:
    return np.max(np.stack(values), axis=0) if isinstance(values[0], np.ndarray) else max(values)


def _agg_min(values: list[Any]) -> Any:
    return np.min(np.stack(values), axis=0) if isinstance(values[0], np.ndarray) else min(values)


def _agg_mean(values: list[Any]) -> Any:
    if all(isinstance(v, numbers.Real) for v in values):
        return math.fsum(values) / len(values)
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged shapes
        arr = np.asarray([None])
    if arr.dtype.kind not in "biufc":
        raise TypeError("Window(agg='mean') needs numbers or numeric arrays of one shape")
    return arr.mean(axis=0)


_AGG_FUNCS: dict[str, Callable[[list[Any]], Any]] = {
    "max": _agg_max,
    "min": _agg_min,
    "mean": _agg_mean,
}


@register_adapter("window")
@dataclass(eq=False)
class Window(Adapter):
    """Aggregate the values with ``now - duration <= ts <= now``.

    ``agg`` is one of ``first``, ``last``, ``max``, ``min`` or ``mean``. ``max``
    and ``min`` work element-wise on numpy arrays; ``mean`` accepts numbers
    (returns a float) or arrays of one shape (returns an array).
    """

    duration: float
    agg: WindowAgg = "last"

    def __post_init__(self) -> None:
        self.duration = _real_param("Window", "duration", self.duration)
        if value_problem(agg_problem(self.agg)):
            self.agg = "last"

    def output_kind(self) -> str:
        """``mean`` turns numbers into a float; the other aggregations keep the type."""
        return sampling.MEAN if self.agg == "mean" else sampling.SAME

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the aggregate of the values in the window, or ``None`` if it is empty."""
        if not buffer:
            return None
        lo, hi = _span(buffer, buffer[-1][0] if now is None else now, self.duration)
        if lo >= hi:
            return None
        agg = self.agg
        if agg == "last":
            return buffer[hi - 1][1]
        if agg == "first":
            return buffer[lo][1]
        return _AGG_FUNCS[agg]([buffer[k][1] for k in range(lo, hi)])


@register_adapter("events")
@dataclass(eq=False)
class Events(Adapter):
    """The raw ``(ts, value)`` pairs with ``now - duration <= ts <= now``, as a list."""

    transforms_type: ClassVar[bool] = True

    duration: float

    def __post_init__(self) -> None:
        self.duration = _real_param("Events", "duration", self.duration)

    def output_kind(self) -> str:
        """The ``(t, value)`` pairs of the window: ``list[tuple[float, T]]``."""
        return sampling.EVENTS if type(self) is Events else sampling.UNKNOWN

    def __call__(
        self, buffer: _Buffer, now: float | None = None, **kwargs: Any
    ) -> list[tuple[float, Any]]:
        """Return the events in the window (an empty list when there are none)."""
        if not buffer:
            return []
        lo, hi = _span(buffer, buffer[-1][0] if now is None else now, self.duration)
        part = buffer[lo:hi]
        return part if isinstance(part, list) else list(part)


@register_adapter("exact")
@dataclass(eq=False)
class Exact(Adapter):
    """The value stamped within ``tolerance`` seconds of ``now``.

    When several qualify, the one nearest to ``now`` wins; on a tie the sample
    at or before ``now`` wins, and among equal timestamps the newest entry.
    """

    tolerance: float = 1e-6

    def __post_init__(self) -> None:
        self.tolerance = _real_param("Exact", "tolerance", self.tolerance)

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the matching value, or ``None`` if no sample is close enough."""
        if not buffer:
            return None
        if now is None:
            return buffer[-1][1]
        i = _newest_at_or_before(buffer, now)
        best: int = -1
        best_dist = math.inf
        if i >= 0:
            best, best_dist = i, now - buffer[i][0]
        j = i + 1
        if j < len(buffer) and buffer[j][0] - now < best_dist:
            t_next = buffer[j][0]  # newest entry among equal future timestamps
            best, best_dist = bisect_right(buffer, t_next, j, key=_TS) - 1, t_next - now
        if best < 0 or best_dist > self.tolerance:
            return None
        return buffer[best][1]


def _interpolable(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype.kind in "iufc" and b.dtype.kind in "iufc"
    return (
        isinstance(a, numbers.Real)
        and isinstance(b, numbers.Real)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


@register_adapter("linear")
@dataclass(eq=False)
class Linear(Adapter):
    """Linear interpolation between the samples on either side of ``now``.

    Works on numbers and numeric numpy arrays of equal shape. Before the first
    sample the first value is returned, after the last sample the last value.
    Non-numeric values fall back to the newest value at or before ``now``.
    """

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the interpolated value at ``now``, or ``None`` for an empty buffer."""
        if not buffer:
            return None
        if now is None or buffer[-1][0] <= now:
            return buffer[-1][1]
        i = bisect_right(buffer, now, key=_TS) - 1
        if i < 0:
            return buffer[0][1]
        t0, v0 = buffer[i]
        if t0 == now:
            return v0
        t1, v1 = buffer[i + 1]
        if not _interpolable(v0, v1):
            return v0
        return v0 + (v1 - v0) * ((now - t0) / (t1 - t0))


@register_adapter("chunking")
@dataclass(eq=False)
class Chunking(Adapter):
    """Read one step of a time-indexed chunk (e.g. a VLA action chunk).

    Takes the newest entry ``(ts0, chunk)`` with ``ts0 <= now`` and returns
    ``chunk[i]`` with ``i = floor((now - ts0) / dt)`` (1e-9 slack for float
    rounding), clamped to the chunk's index range. ``chunk`` is any sequence or
    array indexed along its first axis. Empty chunks give ``None``.
    """

    default_history: ClassVar[int] = 2

    transforms_type: ClassVar[bool] = True

    dt: float

    def __post_init__(self) -> None:
        self.dt = _real_param("Chunking", "dt", self.dt, positive=True)

    def output_kind(self) -> str:
        """One element of the stored chunk."""
        return sampling.ELEMENT if type(self) is Chunking else sampling.UNKNOWN

    def __call__(self, buffer: _Buffer, now: float | None = None, **kwargs: Any) -> Any:
        """Return the chunk element due at ``now``, or ``None``."""
        if not buffer:
            return None
        if now is None:
            now = buffer[-1][0]
        i = _newest_at_or_before(buffer, now)
        if i < 0:
            return None
        ts0, chunk = buffer[i]
        n = len(chunk)
        if n == 0:
            return None
        k = math.floor((now - ts0) / self.dt + _EPS)
        return chunk[min(max(k, 0), n - 1)]
