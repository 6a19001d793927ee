"""Events with nanosecond event time and lineage, and buffers of them.

An :class:`Event` is one value of one stream at one instant. Event time is an integer
number of nanoseconds (``time_ns``), never a float, so that ordering, joins and exports
are exact. ``seq`` numbers the events of a stream; ``(stream, seq)`` identifies an event,
and ``lineage`` lists the identities of the events it was computed from.

The runtime's :data:`~retriever.flow.types.TimedBuffer` uses float seconds. A float64
holds 53 bits, so converting nanoseconds to seconds and back is exact only while the
time is small: :meth:`EventBuffer.to_timed_buffer` therefore subtracts an ``origin_ns``
(choose the recording's start), and :meth:`EventBuffer.from_timed_buffer` adds it back
with rounding to the nearest nanosecond. Within about 52 days (4.5e15 ns) of the origin
the round trip returns every ``time_ns`` exactly; absolute Unix times (1.7e18 ns) without
an origin come back within a few hundred nanoseconds. Pass ``keep_events=True`` to carry
the events themselves through a TimedBuffer, which is lossless at any time scale.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from retriever.flow.types import TimedBuffer

from .errors import PayloadError
from .registry import register_type

__all__ = ["Event", "EventBuffer", "EventRef"]


@register_type("retriever/data/v1/EventRef")
@dataclass(frozen=True, order=True)
class EventRef:
    """The identity of an event: its stream and its sequence number in that stream."""

    stream: str
    seq: int

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq}"


@register_type("retriever/data/v1/Event")
@dataclass(frozen=True)
class Event:
    """One value of one stream at one event time (integer nanoseconds), with lineage."""

    time_ns: int
    stream: str
    seq: int
    value: Any = None
    lineage: tuple[EventRef, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.time_ns, int) or isinstance(self.time_ns, bool):
            raise PayloadError("time_ns", self.time_ns, "event time must be an integer "
                               "number of nanoseconds", hint="use round(seconds * 1e9)")
        if not isinstance(self.seq, int) or self.seq < 0:
            raise PayloadError("seq", self.seq, "must be a non-negative integer")
        if not self.stream:
            raise PayloadError("stream", self.stream, "an event needs a stream name")
        if not isinstance(self.lineage, tuple):
            object.__setattr__(self, "lineage", tuple(self.lineage))

    @property
    def ref(self) -> EventRef:
        """This event's identity, for the lineage of events derived from it."""
        return EventRef(self.stream, self.seq)

    @property
    def time_s(self) -> float:
        """Event time in float seconds (for display; may round, see the module docs)."""
        return self.time_ns / 1e9

    def derive(self, stream: str, seq: int, value: Any, *, time_ns: int | None = None,
               also_from: Iterable[Event] = ()) -> Event:
        """A new event computed from this one (and ``also_from``), recording the lineage.

        The event time defaults to this event's time.
        """
        refs = (self.ref, *(e.ref for e in also_from))
        return Event(self.time_ns if time_ns is None else time_ns, stream, seq, value, refs)


def _key(e: Event) -> int:
    return e.time_ns


class EventBuffer:
    """Events of one or several streams, ordered by event time.

    Events with equal times keep their insertion order. Window queries are
    half-open: ``window(a, b)`` holds the events with ``a <= time_ns < b``.
    """

    __slots__ = ("_events", "_times")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: list[Event] = sorted(events, key=_key)
        self._times: list[int] = [e.time_ns for e in self._events]

    # ---------------------------------------------------------------- building
    def add(self, event: Event) -> None:
        """Insert ``event`` at its place in time (after events with the same time)."""
        i = bisect_right(self._times, event.time_ns)
        self._times.insert(i, event.time_ns)
        self._events.insert(i, event)

    def extend(self, events: Iterable[Event]) -> None:
        """Insert several events."""
        for e in events:
            self.add(e)

    def append(self, stream: str, time_ns: int, value: Any,
               lineage: Iterable[EventRef] = ()) -> Event:
        """Create the next event of ``stream`` (one past its highest ``seq``, else 0)."""
        seq = max((e.seq + 1 for e in self._events if e.stream == stream), default=0)
        event = Event(time_ns, stream, seq, value, tuple(lineage))
        self.add(event)
        return event

    @classmethod
    def merge(cls, *buffers: EventBuffer) -> EventBuffer:
        """Merge buffers by event time; ties keep the order of ``buffers``."""
        out = cls()
        out._events = list(heapq.merge(*(b._events for b in buffers), key=_key))
        out._times = [e.time_ns for e in out._events]
        return out

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, int, Any]]) -> EventBuffer:
        """From ``(stream, time_ns, value)`` records, numbering each stream from 0."""
        counters: dict[str, int] = {}
        events = []
        for stream, time_ns, value in records:
            seq = counters.get(stream, 0)
            counters[stream] = seq + 1
            events.append(Event(time_ns, stream, seq, value))
        return cls(events)

    # ---------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __getitem__(self, index: int) -> Event:
        return self._events[index]

    def __repr__(self) -> str:
        return f"EventBuffer({len(self)} events, streams={sorted(self.streams())})"

    @property
    def events(self) -> Sequence[Event]:
        """The events, oldest first (read-only view)."""
        return tuple(self._events)

    def streams(self) -> set[str]:
        """The names of the streams present."""
        return {e.stream for e in self._events}

    def stream(self, name: str) -> EventBuffer:
        """Only the events of stream ``name``."""
        return self._subset(e for e in self._events if e.stream == name)

    def window(self, start_ns: int | None = None, end_ns: int | None = None,
               streams: Iterable[str] | None = None) -> EventBuffer:
        """Events with ``start_ns <= time_ns < end_ns`` (open ends when ``None``)."""
        lo = 0 if start_ns is None else bisect_left(self._times, start_ns)
        hi = len(self._times) if end_ns is None else bisect_left(self._times, end_ns)
        picked = self._events[lo:hi]
        if streams is not None:
            keep = set(streams)
            picked = [e for e in picked if e.stream in keep]
        return self._subset(picked)

    def latest(self, stream: str, at_ns: int | None = None) -> Event | None:
        """The newest event of ``stream`` at or before ``at_ns`` (``None`` if none)."""
        hi = len(self._times) if at_ns is None else bisect_right(self._times, at_ns)
        for e in reversed(self._events[:hi]):
            if e.stream == stream:
                return e
        return None

    def find(self, ref: EventRef) -> Event | None:
        """The event with identity ``ref``, if present."""
        return next((e for e in self._events if e.stream == ref.stream and e.seq == ref.seq),
                    None)

    def ancestors(self, event: Event) -> list[Event]:
        """All events (present in this buffer) that ``event`` was derived from, transitively."""
        out: list[Event] = []
        seen: set[EventRef] = set()
        todo = list(event.lineage)
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            found = self.find(ref)
            if found is not None:
                out.append(found)
                todo.extend(found.lineage)
        return sorted(out, key=_key)

    @property
    def start_ns(self) -> int | None:
        """Time of the first event."""
        return self._times[0] if self._times else None

    @property
    def end_ns(self) -> int | None:
        """Time of the last event."""
        return self._times[-1] if self._times else None

    def records(self) -> Iterator[tuple[str, int, Any]]:
        """``(stream, time_ns, value)`` records, as the Parquet exporter takes them."""
        return ((e.stream, e.time_ns, e.value) for e in self._events)

    def _subset(self, events: Iterable[Event]) -> EventBuffer:
        out = EventBuffer()
        out._events = list(events)
        out._times = [e.time_ns for e in out._events]
        return out

    # ---------------------------------------------------------------- TimedBuffer
    def to_timed_buffer(self, stream: str | None = None, *, origin_ns: int = 0,
                        keep_events: bool = False) -> TimedBuffer[Any]:
        """``[(seconds since origin_ns, value), ...]`` for the runtime's adapters.

        ``stream`` selects one stream (all by default). With ``keep_events`` the values
        are the :class:`Event` objects themselves, so nothing is lost.
        """
        source = self._events if stream is None else self.stream(stream)._events
        if keep_events:
            return [((e.time_ns - origin_ns) / 1e9, e) for e in source]
        return [((e.time_ns - origin_ns) / 1e9, e.value) for e in source]

    @classmethod
    def from_timed_buffer(cls, buffer: Iterable[tuple[float, Any]], stream: str = "",
                          *, origin_ns: int = 0, first_seq: int = 0) -> EventBuffer:
        """Events from ``(seconds, value)`` pairs: ``time_ns = origin_ns + round(s * 1e9)``.

        Values that are :class:`Event` objects (from ``keep_events=True``) are taken as
        they are; other values become events of ``stream`` numbered from ``first_seq``.
        """
        events = []
        seq = first_seq
        for ts, value in buffer:
            if isinstance(value, Event):
                events.append(value)
                continue
            if not stream:
                raise PayloadError("stream", stream, "plain TimedBuffer values need a "
                                   "stream name for their events")
            events.append(Event(origin_ns + round(ts * 1e9), stream, seq, value))
            seq += 1
        return cls(events)

    def with_stream(self, name: str) -> EventBuffer:
        """A copy with every event moved to stream ``name`` (sequence numbers kept)."""
        return self._subset(replace(e, stream=name) for e in self._events)

