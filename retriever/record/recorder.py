"""The recorder: a stepper observer that writes every flow's inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from retriever.contract.errors import RetrieverError
from retriever.ir.model import IR, NodeIR
from retriever.rt.stepper import StepResult

from .config import RecordConfig, format_of
from .errors import RecordingError
from .layout import channel_specs, flatten_input, header, port_types, topic
from .mcap_io import McapWriter
from .rrd import RrdWriter


class Sink(Protocol):
    """Something that receives the samples of each step (a file writer, a live view)."""

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
    if format_of(path) == "rrd":
        return RrdWriter(path, meta, specs, application_id=config.application_id,
                         recording_id=config.recording_id,
                         flush_every_step=config.flush_every_step,
                         flush_interval=config.flush_interval)
    types: dict[str, Any] = {}
    for node in ir.nodes:
        for side in ("out", "in"):
            for port, tp in port_types(node, side).items():
                types[topic(node.id, side, port)] = tp
    return McapWriter(path, meta, specs, types, flush_every_step=config.flush_every_step,
                      flush_interval=config.flush_interval)


@dataclass
class RecordResult:
    """What ``pipe.record`` wrote."""

    paths: list[Path]
    steps: int
    values: int = 0
    last: StepResult | None = field(default=None, repr=False)


class Recorder:
    """Observes a stepper (``stepper.observers.append(recorder)``) and writes each step.

    Step indices in the files count from 0 at the first observed step.
    """

    def __init__(self, ir: IR, config: RecordConfig | None = None, *,
                 live: Sink | None = None) -> None:
        self.config = config
        self.inputs = config.inputs if config is not None else True
        self.sinks: list[Sink] = []
        self.steps = 0
        self.values = 0
        self._nodes: dict[str, NodeIR] = {n.id: n for n in ir.nodes}
        try:
            for path in (config.paths if config is not None else []):
                self.sinks.append(open_writer(path, ir, config))  # type: ignore[arg-type]
        except BaseException:
            self.close()
            raise
        if live is not None:
            self.sinks.append(live)

    @property
    def paths(self) -> list[Path]:
        """The files being written."""
        return self.config.paths if self.config is not None else []

    def __call__(self, result: StepResult) -> None:
        step = self.steps
        self.steps += 1
        sinks = self.sinks
        for s in sinks:
            s.begin_step(step, result.now)
        for name in dict.fromkeys(result.executed):
            msg = result.messages.get(name)
            if msg:
                for port, value in msg.items():
                    self._write(topic(name, "out", port), value)
            if self.inputs and name in result.inputs:
                flat = flatten_input(self._nodes[name], result.inputs[name])
                for port, value in flat.items():
                    self._write(topic(name, "in", port), value)
        for s in sinks:
            s.end_step()

    def _write(self, name: str, value: Any) -> None:
        self.values += 1
        for s in self.sinks:
            try:
                s.write(name, value)
            except RetrieverError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise RecordingError(getattr(s, "path", None),
                                     f"cannot record {name}: {exc}", code="RET809",
                                     hint="ports must carry plain data, numpy arrays or "
                                          "dataclasses to be recorded") from exc

    def close(self) -> None:
        """Finish every file (all of them, even if one fails; the first error is raised)."""
        first: BaseException | None = None
        for s in self.sinks:
            try:
                s.close()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first
