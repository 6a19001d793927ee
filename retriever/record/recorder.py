"""The recorder: a stepper observer that writes every flow's inputs and outputs.

The stepping thread does as little as possible. A step whose port values are all
immutable scalars (``int``, ``float``, ``bool``, ``str``, ``None``) is only remembered
(a reference to its messages plus a shallow copy of each input object's fields); such
steps are expanded into rows and handed to the file writers in one batch, at least every
``flush_interval`` seconds (every step with ``flush_every_step``), before any step that
must be written at once, and at the end. Steps carrying arrays, lists or other mutable
values are encoded at once, since the flow may change those objects later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from retriever.contract.errors import ErrorCollector, RetrieverError
from retriever.ir.model import IR, NodeIR
from retriever.rt.stepper import StepResult

from .config import RecordConfig, format_of
from .errors import RecordingError
from .layout import channel_specs, flatten_input, header, port_types, topic
from .mcap_io import McapWriter
from .rrd import RrdWriter

#: Values that cannot change after they were published: safe to encode later.
SCALAR_TYPES = frozenset((int, float, bool, str, type(None)))
#: At most this many remembered steps before they are handed to the writers (small
#: batches die young, which keeps the cyclic GC cheap; measured 128 best of 16..512).
_MAX_DEFERRED_STEPS = 128

#: One recorded value: (topic, step index, step time, value).
Row = tuple[str, int, float, Any]


class Sink(Protocol):
    """Something that receives the samples of each step (a file writer, a live view).

    A sink may also define ``write_rows(rows: list[Row])`` (many steps' values at once,
    in step order) and ``flush(wait: bool)`` (push to disk); the recorder then batches
    steps of scalars for it.
    """

    def begin_step(self, step: int, now: float) -> None:
        """A step starts."""

    def write(self, topic: str, value: Any) -> None:
        """One port value of the step."""

    def end_step(self) -> None:
        """The step is complete."""

    def close(self) -> None:
        """No more steps."""


def open_writer(path: Path, ir: IR, config: RecordConfig) -> Sink:
    """A file writer for ``path`` (format from its extension)."""
    specs = channel_specs(ir, inputs=config.inputs)
    meta = header(ir, specs)
    types: dict[str, Any] = {}
    for node in ir.nodes:
        for side in ("out", "in"):
            for port, tp in port_types(node, side).items():
                types[topic(node.id, side, port)] = tp
    if format_of(path) == "rrd":
        return RrdWriter(path, meta, specs, application_id=config.application_id,
                         recording_id=config.recording_id,
                         flush_every_step=config.flush_every_step,
                         flush_interval=config.flush_interval, types=types)
    return McapWriter(path, meta, specs, types, flush_every_step=config.flush_every_step,
                      flush_interval=config.flush_interval)


@dataclass
class RecordResult:
    """What ``pipe.record`` wrote."""

    paths: list[Path]
    steps: int
    values: int = 0
    last: StepResult | None = field(default=None, repr=False)


class _Deferred:
    """One remembered step: its index, time, executed flows, messages, input fields."""

    __slots__ = ("executed", "inputs", "messages", "now", "step")

    def __init__(self, step: int, now: float, executed: list[str],
                 messages: dict[str, dict[str, Any]],
                 inputs: dict[str, dict[str, Any]] | None) -> None:
        self.step = step
        self.now = now
        self.executed = executed
        self.messages = messages
        self.inputs = inputs


class Recorder:
    """Observes a stepper (``stepper.observers.append(recorder)``) and writes each step.

    Step indices in the files count from 0 at the first observed step.
    """

    def __init__(self, ir: IR, config: RecordConfig | None = None, *,
                 live: Sink | None = None, write_files: bool = True) -> None:
        self.config = config
        self.inputs = config.inputs if config is not None else True
        self.sinks: list[Sink] = []
        self.steps = 0
        self.values = 0
        self._nodes: dict[str, NodeIR] = {n.id: n for n in ir.nodes}
        self._out_topics = {n.id: {p.name: topic(n.id, "out", p.name) for p in n.output_ports}
                            for n in ir.nodes}
        # input fields by flow: (field, topic) for flows whose input is one envelope
        self._in_fields = {n.id: [(p.field, topic(n.id, "in", p.name)) for p in n.input_ports]
                           for n in ir.nodes}
        self._every_step = config.flush_every_step if config is not None else True
        self._interval = config.flush_interval if config is not None else 0.0
        self._deferred: list[_Deferred] = []
        self._last_flush = time.monotonic()
        self._batch_sinks: list[Sink] = []
        self._step_sinks: list[Sink] = []
        try:
            for path in (config.paths if config is not None and write_files else []):
                self.sinks.append(open_writer(path, ir, config))  # type: ignore[arg-type]
        except BaseException as exc:
            errors = ErrorCollector([exc])
            with errors.step():
                self.close()
            errors.raise_all("opening the recording failed")
            raise
        if live is not None:
            self.sinks.append(live)
        self._batch_sinks = [s for s in self.sinks if hasattr(s, "write_rows")]
        self._step_sinks = [s for s in self.sinks if not hasattr(s, "write_rows")]

    @property
    def paths(self) -> list[Path]:
        """The files being written."""
        return self.config.paths if self.config is not None else []

    def __call__(self, result: StepResult) -> None:
        step = self.steps
        self.steps += 1
        if self._step_sinks:
            self._write_step(self._step_sinks, step, result)
        if not self._batch_sinks:
            return
        snap = self._snapshot(result)
        if snap is None:  # mutable values: write them now, after what was remembered
            self._drain(flush=False)
            self._write_step(self._batch_sinks, step, result)
            return
        self._defer(step, result.now, result.executed, result.messages, snap)

    def add_scalars(self, now: float, executed: list[str],
                    messages: dict[str, dict[str, Any]],
                    inputs: dict[str, dict[str, Any]] | None) -> None:
        """Record a step whose values are all immutable scalars, given as plain dicts
        the recorder may keep (``inputs``: flow -> {field: value}); the recording writer
        process decodes steps straight into this form. Only for file recorders."""
        step = self.steps
        self.steps += 1
        self._defer(step, now, executed, messages, inputs)

    def _defer(self, step: int, now: float, executed: list[str],
               messages: dict[str, dict[str, Any]],
               inputs: dict[str, dict[str, Any]] | None) -> None:
        self._deferred.append(_Deferred(step, now, executed, messages, inputs))
        if self._every_step or time.monotonic() - self._last_flush >= self._interval:
            self._drain(flush=True)
        elif len(self._deferred) >= _MAX_DEFERRED_STEPS:
            self._drain(flush=False)  # objects that die young cost the GC less

    def _snapshot(self, result: StepResult) -> dict[str, dict[str, Any]] | None:
        """The input fields of a step of scalars (None when a value is mutable)."""
        scalars = SCALAR_TYPES
        for msg in result.messages.values():
            if not scalars.issuperset(map(type, msg.values())):
                return None
        snap: dict[str, dict[str, Any]] = {}
        if self.inputs:
            for name, inp in result.inputs.items():
                if inp is None:
                    continue
                fields = getattr(inp, "__dict__", None)
                if type(fields) is not dict or not scalars.issuperset(
                        map(type, fields.values())):
                    return None  # composite inputs, slotted classes, mutable values
                snap[name] = fields.copy()
        return snap

    def _drain(self, *, flush: bool) -> None:
        """Hand the remembered steps to the batching sinks (and push them to disk)."""
        if self._deferred:
            rows: list[Row] = []
            add = rows.append
            out_topics = self._out_topics
            in_fields = self._in_fields
            for d in self._deferred:
                step, now, messages, inputs = d.step, d.now, d.messages, d.inputs
                for name in dict.fromkeys(d.executed):
                    msg = messages.get(name)
                    if msg:
                        topics = out_topics[name]
                        for port, value in msg.items():
                            add((topics[port], step, now, value))
                    fields = inputs.get(name) if inputs else None
                    if fields:
                        for f, t in in_fields[name]:
                            value = fields.get(f)
                            if value is not None:
                                add((t, step, now, value))
            self._deferred.clear()
            self.values += len(rows)
            for s in self._batch_sinks:
                self._guard(s, "a batch of scalars", s.write_rows, rows)  # type: ignore[attr-defined]
        if flush:
            for s in self._batch_sinks:
                s.flush(wait=self._every_step)  # type: ignore[attr-defined]
            self._last_flush = time.monotonic()

    def _write_step(self, sinks: list[Sink], step: int, result: StepResult) -> None:
        count = sinks is self._batch_sinks or not self._batch_sinks
        for s in sinks:
            s.begin_step(step, result.now)
        for name in dict.fromkeys(result.executed):
            msg = result.messages.get(name)
            if msg:
                topics = self._out_topics[name]
                for port, value in msg.items():
                    self._write(sinks, topics[port], value, count)
            if self.inputs and name in result.inputs:
                flat = flatten_input(self._nodes[name], result.inputs[name])
                for port, value in flat.items():
                    self._write(sinks, topic(name, "in", port), value, count)
        for s in sinks:
            s.end_step()

    def _write(self, sinks: list[Sink], name: str, value: Any, count: bool) -> None:
        if count:
            self.values += 1
        for s in sinks:
            self._guard(s, name, s.write, name, value)

    @staticmethod
    def _guard(sink: Sink, name: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except RetrieverError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise RecordingError(getattr(sink, "path", None),
                                 f"cannot record {name}: {exc}", code="RET809",
                                 hint="ports must carry plain data, numpy arrays or "
                                      "dataclasses to be recorded") from exc

    def close(self) -> None:
        """Write what is remembered, then finish every file (all of them, even if one
        fails). Every failure is raised: one error as itself, several as an
        ``ExceptionGroup``."""
        errors = ErrorCollector()
        with errors.step():
            self._drain(flush=False)
        for s in self.sinks:
            with errors.step():
                s.close()
        errors.raise_all("closing the recording failed")
