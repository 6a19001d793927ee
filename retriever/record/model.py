"""A recording read back from disk: header, channels and raw samples per port.

Values stay encoded until asked for, and are decoded with the port types the caller
supplies (the live pipeline's types); nothing in a file decides what code runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RecordingError

#: Turns one stored payload into a value of the given type (``Any``: plain data).
Decoder = Callable[[Any, Any], Any]


@dataclass
class Channel:
    """One recorded port and its statistics."""

    topic: str
    flow: str
    side: str
    port: str
    type: str
    schema: dict[str, Any] | None = None
    views: set[str] = field(default_factory=set)  # Rerun archetypes shown (.rrd)
    count: int = 0
    first_time: float | None = None
    last_time: float | None = None

    def seen(self, t: float) -> None:
        """Count one sample at time ``t``."""
        self.count += 1
        self.first_time = t if self.first_time is None else min(self.first_time, t)
        self.last_time = t if self.last_time is None else max(self.last_time, t)


@dataclass
class Sample:
    """One stored port value: the step it was recorded at, its time, its payload."""

    step: int
    time: float
    payload: Any


@dataclass
class Recording:
    """Everything read from one ``.rrd`` or ``.mcap`` file."""

    path: Path
    format: str
    meta: dict[str, Any]
    channels: dict[str, Channel]
    samples: dict[str, list[Sample]]  # topic -> samples in step order
    decoder: Decoder
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def flows(self) -> list[str]:
        """Flow names in the order of the header."""
        return [str(f) for f in self.meta.get("flows", [])]

    @property
    def message_count(self) -> int:
        """How many port values the file holds."""
        return sum(len(v) for v in self.samples.values())

    @property
    def steps(self) -> tuple[int, int] | None:
        """First and last recorded step index (None when nothing was recorded)."""
        idx = [s.step for v in self.samples.values() for s in v]
        return (min(idx), max(idx)) if idx else None

    @property
    def time_span(self) -> tuple[float, float] | None:
        """First and last recorded time in seconds."""
        ts = [s.time for v in self.samples.values() for s in v]
        return (min(ts), max(ts)) if ts else None

    def ports(self, flow: str, side: str = "out") -> dict[str, Channel]:
        """The channels of one side of a flow, by port name."""
        return {c.port: c for c in self.channels.values() if c.flow == flow and c.side == side}

    def messages(self, flow: str, side: str = "out",
                 types: Mapping[str, Any] | None = None) -> list[tuple[int, float, dict[str, Any]]]:
        """``(step, time, {port: value})`` per step at which ``flow`` carried anything.

        ``types`` maps port names to the types to rebuild (missing: plain data).
        Ports that carried nothing at a step are absent from that step's dict.
        """
        if flow not in self.flows:
            raise RecordingError(
                self.path, f"flow {flow!r} is not in the recording",
                hint="recorded flows: " + (", ".join(self.flows) or "(none)"), code="RET807")
        types = types or {}
        by_step: dict[int, tuple[float, dict[str, Any]]] = {}
        for port, chan in self.ports(flow, side).items():
            tp = types.get(port, Any)
            for s in self.samples.get(chan.topic, ()):
                _, msg = by_step.setdefault(s.step, (s.time, {}))
                msg[port] = self.decoder(s.payload, tp)
        return [(k, by_step[k][0], by_step[k][1]) for k in sorted(by_step)]
