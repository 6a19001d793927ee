"""How a pipeline's ports map onto recording channels, and the recording header.

Every port of every flow becomes one channel (an MCAP topic, a Rerun entity) named
``/flows/<flow>/out/<port>`` or ``/flows/<flow>/in/<port>``. The header, stored in
both formats, lists the channels with their canonical type names; it never names code
to import (port types for decoding always come from the live pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retriever.contract.composite import CompositeView
from retriever.ir.model import IR, NodeIR, PortIR
from retriever.rt.graph import port_types as port_types  # one lookup, shared with rt

MAGIC = "retriever-recording"
VERSION = 1
SIDES = ("out", "in")


def topic(flow: str, side: str, port: str) -> str:
    """The channel / entity path of one port."""
    return f"/flows/{flow}/{side}/{port}"


@dataclass(frozen=True)
class ChannelSpec:
    """One recorded port: its channel name, owner, side, port name and type name."""

    topic: str
    flow: str
    side: str
    port: str
    type: str

    def as_json(self) -> dict[str, str]:
        """The header entry."""
        return {"topic": self.topic, "flow": self.flow, "side": self.side, "port": self.port,
                "type": self.type}


def channel_specs(ir: IR, *, inputs: bool = True) -> list[ChannelSpec]:
    """Every recorded port of ``ir`` (outputs first per flow, then inputs)."""
    out = []
    for node in ir.nodes:
        sides: list[tuple[str, list[PortIR]]] = [("out", node.output_ports)]
        if inputs:
            sides.append(("in", node.input_ports))
        for side, ports in sides:
            for p in ports:
                out.append(ChannelSpec(topic(node.id, side, p.name), node.id, side, p.name,
                                       p.type))
    return out


def header(ir: IR, specs: Iterable[ChannelSpec]) -> dict[str, Any]:
    """The recording header (plain JSON data).

    ``log_time_origin_ns`` is the wall-clock time the recording started (ns since the
    Unix epoch): MCAP log times are this plus the step time, so viewers show real dates.
    """
    start = time.time_ns()
    return {"format": MAGIC, "version": VERSION, "pipeline": ir.name,
            "created_unix": start / 1e9, "log_time_origin_ns": start,
            "flows": [n.id for n in ir.nodes],
            "channels": [s.as_json() for s in specs]}


class PortValues(dict[str, Any]):
    """An input that was already flattened to ``{port: value}`` (the recording writer
    process receives composite inputs this way)."""

    __slots__ = ()


def flatten_input(node: NodeIR, value: Any) -> dict[str, Any]:
    """The ``{port: value}`` of a sampled input object (ports holding None left out)."""
    return flatten_fields(input_fields(node), value)


def input_fields(node: NodeIR) -> list[tuple[str, str, str]]:
    """``(port, alias, field)`` of each input port of ``node`` (what
    :func:`flatten_fields` needs, as plain data that can travel to a worker)."""
    return [(p.name, p.alias, p.field) for p in node.input_ports]


def flatten_fields(ports: Iterable[tuple[str, str, str]] | Iterable[list[str]],
                   value: Any) -> dict[str, Any]:
    """:func:`flatten_input` given the ``(port, alias, field)`` of the input ports."""
    if value is None:
        return {}
    if isinstance(value, PortValues):
        return {k: v for k, v in value.items() if v is not None}
    out = {}
    composite = isinstance(value, CompositeView)
    for name, alias, field_name in ports:
        part = getattr(value, alias, None) if composite else value
        v = getattr(part, field_name, None) if part is not None else None
        if v is not None:
            out[name] = v
    return out


def split_topic(name: str) -> tuple[str, str, str] | None:
    """(flow, side, port) of a channel name made by :func:`topic`, else None."""
    parts = name.strip("/").split("/", 3)
    if len(parts) != 4 or parts[0] != "flows" or parts[2] not in SIDES:
        return None
    return parts[1], parts[2], parts[3]


def check_header(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with a header read from a file (None when it is usable)."""
    if meta.get("format") != MAGIC:
        return "it has no retriever recording header"
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        return (f"it was written in recording format version {version!r}; this version "
                f"of retriever reads up to {VERSION}")
    if not isinstance(meta.get("channels"), list):
        return "its header lists no channels"
    return None
