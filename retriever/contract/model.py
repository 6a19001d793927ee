"""Neutral descriptions of flows and edges, the only input the rule engine accepts.

Front ends (the mypy plugin, the checker, the authoring layer) translate what they see
into these small frozen records; :mod:`retriever.contract.rules` judges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .diagnostics import Location


class ElementKind(str, Enum):
    """What one element of a Flow signature side is."""

    ENVELOPE = "envelope"
    NONE = "none"
    OTHER = "other"  # not flow-I/O compatible


@dataclass(frozen=True)
class EnvelopeDesc:
    """One element of a signature side: an ``@io`` class, ``None`` or something else."""

    name: str
    kind: ElementKind = ElementKind.ENVELOPE
    fields: tuple[tuple[str, str], ...] = ()  # (port, canonical type name)
    #: (port, type name) of ports whose type cannot travel without pickle (RET008).
    opaque: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def none() -> EnvelopeDesc:
        """The ``None`` element (source input / sink output)."""
        return EnvelopeDesc("None", ElementKind.NONE)


@dataclass(frozen=True)
class SideDesc:
    """The input or output side of a signature.

    ``composite`` is True for the tuple forms ``(A, B)`` / ``tuple[A, B]``.
    """

    elements: tuple[EnvelopeDesc, ...]
    composite: bool = False

    @property
    def is_none(self) -> bool:
        """Whether this side carries nothing (source inputs, sink outputs)."""
        return all(e.kind is ElementKind.NONE for e in self.elements)


@dataclass(frozen=True)
class FlowDesc:
    """A flow as the rules see it."""

    name: str
    inputs: SideDesc
    outputs: SideDesc
    location: Location = field(default_factory=Location)
    trigger_fields: tuple[str, ...] = ()
    clock: str | None = None  # "rate" | "tick" | "trigger" | "hybrid" | None
    step_return: str | None = None  # canonical name of step's return annotation, if any
    has_step: bool = True  # whether the class (or a base below Flow) defines step()
    step_location: Location | None = None  # where step is defined (RET005 points there)


@dataclass(frozen=True)
class EdgeDesc:
    """A connection ``src -> dst`` as authored.

    ``map`` is None for the default ``{"*": "*"}``. ``sync_ports`` lists the keys of a
    per-port sync dict; ``sync_all`` is True when one adapter was given for every port.
    ``edge_config_ports`` lists the keys of ``edge_config`` and
    ``edge_config_adapter_ports`` those whose EdgeConfig sets an adapter.
    ``type_changing_ports`` are source ports whose adapter changes the sampled type.
    ``implicit_sync`` is True for edges wired with ``then``/``>>``: they have no place to
    pass ``sync=``, so ports without a policy fall back to the default or ``Latest()``.
    """

    src: FlowDesc
    dst: FlowDesc
    map: tuple[tuple[str, str], ...] | None = None
    sync_all: bool = False
    sync_ports: tuple[str, ...] = ()
    edge_config_ports: tuple[str, ...] = ()
    edge_config_adapter_ports: tuple[str, ...] = ()
    type_changing_ports: tuple[str, ...] = ()
    #: (source port or "*", adapter kind of :mod:`~retriever.contract.sampling`) pairs;
    #: a port listed here is compared by the type its adapter hands to ``step``.
    port_adapters: tuple[tuple[str, str], ...] = ()
    has_default_sync: bool = False
    implicit_sync: bool = False
    location: Location = field(default_factory=Location)

    @property
    def label(self) -> str:
        """``src -> dst`` for messages."""
        return f"{self.src.name} -> {self.dst.name}"
