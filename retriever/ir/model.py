"""The IR: a serialisable, versioned description of a validated graph.

Loading an IR imports nothing: flows are named ``module:qualname`` and only resolved
when a backend instantiates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from retriever.contract.errors import IRError

IR_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class PortIR(_Model):
    """A port: canonical name, envelope alias and field, canonical type name."""

    name: str
    alias: str
    field: str
    type: str


class ElementIR(_Model):
    """One element of a signature side: an envelope class or None."""

    cls: str | None  # "module:qualname" of the @io class; None for None
    alias: str | None = None


class SideIR(_Model):
    """A signature side."""

    elements: list[ElementIR]
    composite: bool = False


class ClockIR(_Model):
    """A clock; ``on_lag`` is resolved (pipeline default applied)."""

    kind: str
    hz: float | None = None
    on_lag: str = "warn"
    trigger: list[str] = Field(default_factory=list)
    wait_for_inputs: bool = True  # start-up: sample-all clocks wait for every input once


class PlacementIR(_Model):
    """Where a flow or partition should run."""

    machine: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class NodeIR(_Model):
    """A flow instance in the graph."""

    id: str
    flow: str  # "module:qualname"
    init: dict[str, Any] = Field(default_factory=lambda: {"args": [], "kwargs": {}})
    clock: ClockIR
    inputs: SideIR
    outputs: SideIR
    input_ports: list[PortIR] = Field(default_factory=list)
    output_ports: list[PortIR] = Field(default_factory=list)
    placement: PlacementIR = Field(default_factory=PlacementIR)
    restart: dict[str, Any] | None = None
    source_file: str | None = None  # for flows defined in a script run as __main__
    metadata: dict[str, Any] = Field(default_factory=dict)


class AdapterIR(_Model):
    """A sampling adapter by registered name and parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class EdgePortIR(_Model):
    """One carried port pair with its sampling and queue policy."""

    src_port: str
    dst_port: str
    adapter: AdapterIR
    qsize: int
    on_full: str = "drop"


class EdgeIR(_Model):
    """A connection between two nodes."""

    id: str
    src: str
    dst: str
    ports: list[EdgePortIR]


class IR(_Model):
    """A validated graph, ready for any backend."""

    version: int = IR_VERSION
    name: str
    nodes: list[NodeIR]
    edges: list[EdgeIR]
    metadata: dict[str, Any] = Field(default_factory=dict)

    def node(self, node_id: str) -> NodeIR:
        """The node called ``node_id``."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise IRError(f"IR {self.name!r} has no node {node_id!r}")

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to JSON."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> IR:
        """Parse JSON produced by :meth:`to_json`; raises :class:`IRError` when malformed."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IRError(f"IR is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> IR:
        """Build from a dict, checking the version."""
        if not isinstance(data, dict):
            raise IRError("IR must be a JSON object")
        version = data.get("version")
        if version != IR_VERSION:
            raise IRError(f"IR version {version!r} is not supported (expected {IR_VERSION})",
                          hint="re-export the IR with this version of retriever")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise IRError(f"IR is malformed: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write the IR as JSON to ``path``."""
        p = Path(path)
        p.write_text(self.to_json())
        return p

    @classmethod
    def load(cls, path: str | Path) -> IR:
        """Read an IR JSON file (imports nothing)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise IRError(f"cannot read IR file {str(p)!r}: {exc.strerror}") from None
        return cls.from_json(text)


class PartitionIR(_Model):
    """Flows that run together (one process on multiprocessing, one dora node)."""

    id: str
    nodes: list[str]
    placement: PlacementIR = Field(default_factory=PlacementIR)


class ExecutionGraph(_Model):
    """The physical plan: partitions, cross-partition edges and placement hints."""

    version: int = IR_VERSION
    ir: IR
    partitions: list[PartitionIR]
    cross_edges: list[str] = Field(default_factory=list)
    policy: str = "per-flow"

    def partition_of(self, node_id: str) -> PartitionIR:
        """The partition that holds ``node_id``."""
        for p in self.partitions:
            if node_id in p.nodes:
                return p
        raise IRError(f"node {node_id!r} is in no partition")

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to JSON."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> ExecutionGraph:
        """Parse JSON produced by :meth:`to_json`."""
        try:
            return cls.model_validate_json(text)
        except PydanticValidationError as exc:
            raise IRError(f"execution graph is malformed: {exc}") from None
