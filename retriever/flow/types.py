"""FRP vocabulary of the runtime: timed buffers, event streams and behaviors.

* :data:`TimedBuffer` - a finite, time-ordered history ``[(ts, value), ...]``;
  this is what a port's subscriber holds.
* :class:`EventStream` - discrete occurrences. It wraps either a buffer or a
  zero-argument callable producing the current buffer, so a stream over a live
  port always reflects the port's latest history. Combinators build new streams
  lazily: nothing is computed until :meth:`EventStream.events` is called, and it
  is recomputed from the source on every call.
* :class:`Behavior` - a value defined at every instant, ``t -> value``. Holding
  the last event of a stream (or sampling it through an adapter) gives one.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Generic, TypeAlias, TypeVar, overload

from retriever.flow.adapter import Adapter

__all__ = ["Behavior", "EventStream", "TimedBuffer"]

T = TypeVar("T")
U = TypeVar("U")
S = TypeVar("S")
A = TypeVar("A")

#: A port's finite history: ``(timestamp_seconds, value)`` pairs, oldest first.
TimedBuffer: TypeAlias = list[tuple[float, T]]

_TS = itemgetter(0)


def _as_buffer(events: Sequence[tuple[float, T]]) -> TimedBuffer[T]:
    return events if isinstance(events, list) else list(events)


class EventStream(Generic[T]):
    """A time-ordered stream of ``(timestamp, value)`` events.

    ``source`` is a :data:`TimedBuffer` (used as is, so later appends to the
    list are visible) or a zero-argument callable returning the current events
    in ascending timestamp order. With no source the stream is empty.
    """

    __slots__ = ("_source",)

    def __init__(
        self,
        source: Sequence[tuple[float, T]] | Callable[[], Sequence[tuple[float, T]]] | None = None,
    ) -> None:
        self._source: Sequence[tuple[float, T]] | Callable[[], Sequence[tuple[float, T]]]
        self._source = [] if source is None else source

    @classmethod
    def of(cls, events: Iterable[tuple[float, T]]) -> EventStream[T]:
        """A stream over a snapshot of ``events``, sorted by timestamp (stable)."""
        return cls(sorted(events, key=_TS))

    def events(self) -> TimedBuffer[T]:
        """The stream's current events as a :data:`TimedBuffer`."""
        source = self._source
        return _as_buffer(source() if callable(source) else source)

    def __iter__(self) -> Iterator[tuple[float, T]]:
        """Iterate over the current events."""
        return iter(self.events())

    def __len__(self) -> int:
        """Number of current events."""
        return len(self.events())

    def __repr__(self) -> str:
        return f"EventStream({self.events()!r})"

    def sample(self, adapter: Adapter, now: float | None = None) -> Any:
        """Apply ``adapter`` to the current events at time ``now`` (default: newest ts)."""
        return adapter(self.events(), now)

    # ------------------------------------------------------------------ combinators

    def map(self, fn: Callable[[T], U]) -> EventStream[U]:
        """Transform every value, keeping timestamps."""
        return EventStream(lambda: [(ts, fn(v)) for ts, v in self.events()])

    def filter(self, pred: Callable[[T], bool]) -> EventStream[T]:
        """Keep only the events whose value satisfies ``pred``."""
        return EventStream(lambda: [(ts, v) for ts, v in self.events() if pred(v)])

    def merge(self, *others: EventStream[T]) -> EventStream[T]:
        """Interleave this stream with ``others`` by timestamp.

        The merge is stable: events with equal timestamps keep the order of the
        streams as passed (``self`` first), then their order within each stream.
        """
        streams = (self, *others)
        return EventStream(lambda: list(heapq.merge(*(s.events() for s in streams), key=_TS)))

    def fold(self, fn: Callable[[A, T], A], initial: A) -> EventStream[A]:
        """Running accumulation: one event per input event carrying ``fn(acc, value)``."""

        def run() -> TimedBuffer[A]:
            acc = initial
            out: TimedBuffer[A] = []
            for ts, v in self.events():
                acc = fn(acc, v)
                out.append((ts, acc))
            return out

        return EventStream(run)

    @overload
    def snapshot(self, behavior: Behavior[S], fn: None = None) -> EventStream[tuple[T, S]]: ...

    @overload
    def snapshot(self, behavior: Behavior[S], fn: Callable[[T, S], U]) -> EventStream[U]: ...

    def snapshot(
        self, behavior: Behavior[S], fn: Callable[[T, S], U] | None = None
    ) -> EventStream[Any]:
        """At each event, sample ``behavior`` at the event's time.

        Emits ``fn(value, sampled)`` or, without ``fn``, the pair ``(value, sampled)``.
        """
        if fn is None:
            return EventStream(lambda: [(ts, (v, behavior.at(ts))) for ts, v in self.events()])
        f = fn
        return EventStream(lambda: [(ts, f(v, behavior.at(ts))) for ts, v in self.events()])

    def combine_latest(
        self, *others: EventStream[Any], fn: Callable[..., Any] | None = None
    ) -> EventStream[Any]:
        """Emit the latest value of every stream whenever any of them fires.

        Nothing is emitted until each stream has fired at least once. Each
        emission is the tuple of latest values (``self`` first) or
        ``fn(*values)``. Simultaneous events emit one after another, in the
        stream order of :meth:`merge`.
        """
        streams = (self, *others)

        def run() -> TimedBuffer[Any]:
            tagged = [[(ts, k, v) for ts, v in s.events()] for k, s in enumerate(streams)]
            latest: list[Any] = [None] * len(streams)
            seen = [False] * len(streams)
            missing = len(streams)
            out: TimedBuffer[Any] = []
            for ts, k, v in heapq.merge(*tagged, key=_TS):
                latest[k] = v
                if not seen[k]:
                    seen[k] = True
                    missing -= 1
                if missing == 0:
                    out.append((ts, fn(*latest) if fn is not None else tuple(latest)))
            return out

        return EventStream(run)

    @overload
    def flat_map(self, fn: Callable[[T], EventStream[U]]) -> EventStream[U]: ...

    @overload
    def flat_map(self, fn: Callable[[T], Iterable[U]]) -> EventStream[U]: ...

    def flat_map(self, fn: Callable[[T], Any]) -> EventStream[Any]:
        """Replace each event by the events ``fn(value)`` yields.

        When ``fn`` returns an :class:`EventStream`, its events are flattened with their
        own timestamps (an inner event earlier than the outer one is seen at the outer
        event's timestamp: it cannot happen before the stream that carries it exists);
        the result is ordered by timestamp, stably. When ``fn`` returns any other
        iterable, its values all happen at the outer event's timestamp.
        """

        def run() -> TimedBuffer[Any]:
            out: list[tuple[float, Any]] = []
            for ts, v in self.events():
                inner = fn(v)
                if isinstance(inner, EventStream):
                    out.extend((max(ts, t), u) for t, u in inner.events())
                else:
                    out.extend((ts, u) for u in inner)
            out.sort(key=_TS)
            return out

        return EventStream(run)

    @overload
    def hold(self) -> Behavior[T | None]: ...

    @overload
    def hold(self, initial: T) -> Behavior[T]: ...

    def hold(self, initial: T | None = None) -> Behavior[Any]:
        """Step function: the latest value at or before ``t``; ``initial`` before any event."""

        def at(t: float) -> T | None:
            events = self.events()
            i = bisect_right(events, t, key=_TS)
            return events[i - 1][1] if i else initial

        return Behavior(at)

    def to_behavior(self, adapter: Adapter) -> Behavior[Any]:
        """A behavior sampling this stream through a private copy of ``adapter``.

        ``adapter.fresh()`` is used, so stateful adapters (e.g. ``Hold``) keep
        their state per behavior and the caller's instance is never mutated.
        """
        own = adapter.fresh()
        return Behavior(lambda t: own(self.events(), t))


class Behavior(Generic[T]):
    """A value defined at every instant: a function of time sampled with :meth:`at`."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[float], T]) -> None:
        self._fn = fn

    def at(self, t: float) -> T:
        """The value of the behavior at time ``t`` (seconds)."""
        return self._fn(t)

    def __repr__(self) -> str:
        return f"Behavior({self._fn!r})"

    @classmethod
    def constant(cls, value: U) -> Behavior[U]:
        """A behavior equal to ``value`` at every time."""
        return Behavior(lambda _t: value)

    @classmethod
    def from_stream(cls, stream: EventStream[Any], adapter: Adapter) -> Behavior[Any]:
        """Same as ``stream.to_behavior(adapter)``."""
        return stream.to_behavior(adapter)

    def map(self, fn: Callable[[T], U]) -> Behavior[U]:
        """Apply ``fn`` to the value at every time."""
        return Behavior(lambda t: fn(self.at(t)))

    @staticmethod
    def select(cond: Behavior[bool], if_true: Behavior[U], if_false: Behavior[U]) -> Behavior[U]:
        """Per instant, ``if_true.at(t)`` where ``cond.at(t)`` is truthy, else ``if_false.at(t)``.

        Only the chosen branch is sampled.
        """
        return Behavior(lambda t: if_true.at(t) if cond.at(t) else if_false.at(t))

    def until(
        self, event_stream: EventStream[U], then: Behavior[T] | Callable[[U], Behavior[T]]
    ) -> Behavior[T]:
        """Behave like ``self`` before the first event of ``event_stream``, then switch.

        With the first event at ``(te, v)``, times ``t >= te`` are sampled from
        ``then`` - either a behavior, or a function ``v -> Behavior`` called with
        the event's value. The stream is read at every sample, so a switch that
        has not happened yet may happen once the stream receives its first event.
        """

        def at(t: float) -> T:
            events = event_stream.events()
            if events and t >= events[0][0]:
                target = then if isinstance(then, Behavior) else then(events[0][1])
                return target.at(t)
            return self.at(t)

        return Behavior(at)
