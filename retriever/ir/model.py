"""The IR: a serialisable, versioned description of a validated graph.

Loading an IR imports nothing: flows are named ``module:qualname`` and only resolved
when a backend instantiates them.

The models are ``msgspec`` structs: decoding one from JSON checks every field's type
and refuses unknown fields, as exactly as a validating model library would, and
defining them costs next to nothing at import time. That matters because every worker
process and every dora node imports this module before it can start its flows (msgspec
is loaded by the contract layer anyway).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from retriever.contract.errors import IRError

IR_VERSION = 1


class _Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the IR models: keyword construction, unknown fields refused."""

    def to_dict(self) -> dict[str, Any]:
        """This model as plain JSON data (dicts, lists, strings, numbers, None)."""
        data = msgspec.to_builtins(self)
        assert isinstance(data, dict)
        return data


def _dump(model: _Model, indent: int | None) -> str:
    raw = msgspec.json.encode(model)
    if indent:
        raw = msgspec.json.format(raw, indent=indent)
    return raw.decode()


def _malformed(what: str, exc: msgspec.MsgspecError) -> IRError:
    return IRError(f"{what} is malformed: {exc}")


class PortIR(_Model, kw_only=True):
    """A port: canonical name, envelope alias and field, canonical type name."""

    name: str
    alias: str
    field: str
    type: str


class ElementIR(_Model, kw_only=True):
    """One element of a signature side: an envelope class or None."""

    cls: str | None  # "module:qualname" of the @io class; None for None
    alias: str | None = None


class SideIR(_Model, kw_only=True):
    """A signature side."""

    elements: list[ElementIR]
    composite: bool = False


class ClockIR(_Model, kw_only=True):
    """A clock; ``on_lag`` is resolved (pipeline default applied)."""

    kind: str
    hz: float | None = None
    on_lag: str = "warn"
    trigger: list[str] = msgspec.field(default_factory=list)
    wait_for_inputs: bool = True  # start-up: sample-all clocks wait for every input once

    def __post_init__(self) -> None:
        if self.hz is not None and not isinstance(self.hz, float):
            self.hz = float(self.hz)  # a whole number given in code


class PlacementIR(_Model, kw_only=True):
    """Where a flow or partition should run."""

    machine: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class NodeIR(_Model, kw_only=True):
    """A flow instance in the graph."""

    id: str
    flow: str  # "module:qualname"
    init: dict[str, Any] = msgspec.field(default_factory=lambda: {"args": [], "kwargs": {}})
    clock: ClockIR
    inputs: SideIR
    outputs: SideIR
    input_ports: list[PortIR] = msgspec.field(default_factory=list)
    output_ports: list[PortIR] = msgspec.field(default_factory=list)
    placement: PlacementIR = msgspec.field(default_factory=PlacementIR)
    restart: dict[str, Any] | None = None
    source_file: str | None = None  # for flows defined in a script run as __main__
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class AdapterIR(_Model, kw_only=True):
    """A sampling adapter by registered name and parameters."""

    name: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class EdgePortIR(_Model, kw_only=True):
    """One carried port pair with its sampling and queue policy."""

    src_port: str
    dst_port: str
    adapter: AdapterIR
    qsize: int
    on_full: str = "drop"


class EdgeIR(_Model, kw_only=True):
    """A connection between two nodes."""

    id: str
    src: str
    dst: str
    ports: list[EdgePortIR]


class IR(_Model, kw_only=True):
    """A validated graph, ready for any backend."""

    version: int = IR_VERSION
    name: str
    nodes: list[NodeIR]
    edges: list[EdgeIR]
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def node(self, node_id: str) -> NodeIR:
        """The node called ``node_id``."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise IRError(f"IR {self.name!r} has no node {node_id!r}")

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to JSON."""
        return _dump(self, indent)

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
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise _malformed("IR", exc) from None

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


class PartitionIR(_Model, kw_only=True):
    """Flows that run together (one process on multiprocessing, one dora node)."""

    id: str
    nodes: list[str]
    placement: PlacementIR = msgspec.field(default_factory=PlacementIR)


class ExecutionGraph(_Model, kw_only=True):
    """The physical plan: partitions, cross-partition edges and placement hints."""

    version: int = IR_VERSION
    ir: IR
    partitions: list[PartitionIR]
    cross_edges: list[str] = msgspec.field(default_factory=list)
    policy: str = "per-flow"

    def partition_of(self, node_id: str) -> PartitionIR:
        """The partition that holds ``node_id``."""
        for p in self.partitions:
            if node_id in p.nodes:
                return p
        raise IRError(f"node {node_id!r} is in no partition")

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to JSON."""
        return _dump(self, indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> ExecutionGraph:
        """Parse JSON produced by :meth:`to_json` (types checked, unknown fields refused;
        raises :class:`IRError` when malformed)."""
        try:
            return msgspec.json.decode(text, type=cls)
        except msgspec.MsgspecError as exc:
            raise _malformed("execution graph", exc) from None

