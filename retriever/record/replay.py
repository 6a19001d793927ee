"""Replay: publish a flow's recorded outputs instead of running it.

A :class:`ReplaySource` is what the stepper calls for a replayed flow each step. By
default it replays **by step**: the n-th step after replay starts publishes what the
flow published at recorded step n (nothing if it published nothing then), which
reproduces a recorded run exactly when the same ``dt`` is used. ``mode="time"``
replays **by time** instead: each step publishes the newest recorded message whose
time (relative to the recording's start) is due at the step's time (relative to the
first replayed step) and was not published yet; older due messages are skipped.
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retriever.contract.errors import ConfigError, IRError
from retriever.flow.pipeline import Pipeline
from retriever.flow.temporal import TemporalFlow
from retriever.ir.model import NodeIR
from retriever.rt.facade import open_stepper, set_replay

from .errors import RecordingError, TruncatedRecordingWarning
from .layout import port_types
from .model import Recording
from .reader import open_recording

REPLAY_MODES = ("step", "time")


class ReplaySource:
    """Recorded ``(step, time, message)`` triples served to the stepper."""

    def __init__(self, messages: Sequence[tuple[int, float, dict[str, Any]]], *,
                 mode: str = "step", start_time: float = 0.0, flow: str = "",
                 path: Path | None = None, lost: Sequence[str] = ()) -> None:
        if mode not in REPLAY_MODES:
            raise ConfigError(f"replay mode {mode!r} is unknown",
                              hint="use mode='step' or mode='time'")
        self.mode = mode
        self.flow = flow
        self.path = path
        #: What a cut-off recording lost of this flow (empty for a whole recording).
        self.lost = list(lost)
        self._by_step = {step: msg for step, _, msg in messages}
        self._last_step = max(self._by_step, default=-1)
        self._times = [t - start_time for _, t, _ in messages]
        self._msgs = [msg for _, _, msg in messages]
        self._base: tuple[int, float] | None = None
        self._cursor = 0
        self._rel = -1
        self.served = 0

    def __len__(self) -> int:
        return len(self._msgs)

    @property
    def exhausted(self) -> bool:
        """Whether every recorded message has been due."""
        if self._base is None or self.mode == "time":
            return self._cursor >= len(self._msgs)
        return self._rel >= self._last_step

    def __call__(self, now: float, index: int) -> dict[str, Any] | None:
        if self._base is None:
            self._base = (index, now)
        base_index, base_now = self._base
        if self.mode == "step":
            self._rel = index - base_index
            msg = self._by_step.get(self._rel)
        else:
            due = bisect.bisect_right(self._times, now - base_now + 1e-9)
            msg = self._msgs[due - 1] if due > self._cursor else None
            self._cursor = max(self._cursor, due)
        if msg is None:
            return None
        self.served += 1
        return dict(msg)


def node_of(pipe: Pipeline, name: str) -> NodeIR:
    """The IR node of flow ``name`` (from the open stepper, else by validating)."""
    session = open_stepper(pipe)
    ir = session.ir if session is not None else pipe.validate()
    try:
        return ir.node(name)
    except IRError:
        raise ConfigError(f"pipeline {pipe.name!r} has no flow {name!r}") from None


def source_for(recording: Recording, node: NodeIR, *, mode: str = "step") -> ReplaySource:
    """A replay source for ``node``'s outputs, checked against the node's ports."""
    name = node.id
    if name not in recording.flows:
        raise RecordingError(recording.path, f"flow {name!r} is not in the recording",
                             hint="recorded flows: " + (", ".join(recording.flows) or "(none)"),
                             code="RET807")
    live_ports = {p.name: p.type for p in node.output_ports}
    for port, chan in recording.ports(name, "out").items():
        if port not in live_ports:
            raise RecordingError(
                recording.path, f"flow {name!r} was recorded with an output port {port!r} "
                "it no longer has", code="RET811",
                hint="outputs now: " + (", ".join(live_ports) or "(none)"))
        if chan.type != live_ports[port]:
            raise RecordingError(
                recording.path, f"port {name}.{port} was recorded as {chan.type} but the "
                f"flow now declares {live_ports[port]}", code="RET811",
                hint="replay a recording made with the current flow types")
    messages = recording.messages(name, "out", port_types(node, "out"))
    lost: list[str] = []
    if recording.truncated:
        messages, lost = whole_steps(recording, name, messages)
        if lost:
            warnings.warn(TruncatedRecordingWarning(
                f"{recording.path} was cut off mid-write: " + "; ".join(lost)), stacklevel=3)
    span = recording.time_span
    return ReplaySource(messages, mode=mode, start_time=span[0] if span else 0.0, flow=name,
                        path=recording.path, lost=lost)


def whole_steps(recording: Recording, flow: str,
                messages: list[tuple[int, float, dict[str, Any]]],
                ) -> tuple[list[tuple[int, float, dict[str, Any]]], list[str]]:
    """The messages of ``flow`` a cut-off recording holds whole, and what was lost.

    A cut loses the end of every port's samples, not the same steps for each: a port
    whose samples end earlier than the recording's last step may have lost the rest.
    Steps after the earliest such end would publish some ports without others (torn
    messages), so they are left out and reported.
    """
    span = recording.steps
    if span is None:
        return [], [f"flow {flow!r}: nothing was recorded before the cut"]
    last_recorded = span[1]
    ends: dict[str, int] = {}
    for port, chan in recording.ports(flow, "out").items():
        got = recording.samples.get(chan.topic, ())
        ends[port] = max((s.step for s in got), default=-1)
    if not ends:
        return messages, []
    horizon = min(ends.values())
    lost = []
    for port, end in sorted(ends.items()):
        if end < 0:
            lost.append(f"port {flow}.{port} has no samples (cut out entirely)")
        elif end < last_recorded:
            lost.append(f"port {flow}.{port} ends at step {end} of {last_recorded}")
    kept = [m for m in messages if m[0] <= horizon]
    torn = len(messages) - len(kept)
    if torn and horizon < 0:
        lost.append(f"none of the {torn} recorded step{'s' * (torn != 1)} of {flow!r} holds "
                    "all of its ports, so it replays nothing")
    elif torn:
        lost.append(f"{torn} step{'s' * (torn != 1)} of {flow!r} after step {horizon} "
                    "would miss a port and are not replayed")
    return kept, lost


def replay(pipe: Pipeline, flow: TemporalFlow | str, *, path: str | Path,
           mode: str = "step") -> ReplaySource:
    """``Pipeline.replay``: substitute ``flow``'s recorded outputs from ``path``.

    Takes effect in the pipeline's stepper (the open one, or the next ``pipe.step``)
    until ``pipe.close_stepper()``.
    """
    name = flow if isinstance(flow, str) else flow.name
    if name is None or (not isinstance(flow, str) and flow.pipeline is not pipe):
        raise ConfigError(f"{flow!r} is not a flow of pipeline {pipe.name!r}",
                          hint="pass a flow that was added to this pipeline")
    node = node_of(pipe, str(name))
    source = source_for(open_recording(path), node, mode=mode)
    set_replay(pipe, node.id, source)
    return source
