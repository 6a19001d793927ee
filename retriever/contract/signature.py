"""Flow signatures: normalising ``Flow[I, O]`` arguments and describing them.

``Flow[(A, B), C]`` and ``Flow[tuple[A, B], C]`` are the same contract; ``None`` marks a
source's input or a sink's output.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from .envelope import envelope_field_types, envelope_ports, is_envelope
from .model import ElementKind, EnvelopeDesc, SideDesc
from .payload import untravelable
from .ports import aliases
from .typenames import class_name, type_name


@dataclass(frozen=True)
class Side:
    """A normalised signature side: its elements (classes or None) and whether composite."""

    elements: tuple[Any, ...]
    composite: bool

    @property
    def is_none(self) -> bool:
        """Whether the side carries nothing."""
        return all(e is None for e in self.elements)

    @property
    def envelopes(self) -> tuple[type, ...]:
        """The envelope classes of the side, in order."""
        return tuple(e for e in self.elements if e is not None)

    def aliases(self) -> list[str]:
        """Element aliases (``Name`` or ``Name__k``) in declaration order."""
        return aliases([class_name(e) for e in self.envelopes])


def normalize_side(param: Any) -> Side:
    """Normalise one ``Flow`` type argument into a :class:`Side`."""
    if param is None or param is type(None):
        return Side((None,), False)
    if isinstance(param, tuple):
        return Side(tuple(_none(p) for p in param), True)
    if typing.get_origin(param) is tuple:
        return Side(tuple(_none(p) for p in typing.get_args(param)), True)
    return Side((param,), False)


def _none(p: Any) -> Any:
    return None if p is type(None) else p


def describe_element(el: Any) -> EnvelopeDesc:
    """The neutral description of one signature element."""
    if el is None:
        return EnvelopeDesc.none()
    if is_envelope(el):
        types = envelope_field_types(el)
        ports = envelope_ports(el)
        opaque = []
        for p in ports:
            bad = untravelable(types[p])
            if bad is not None:
                opaque.append((p, class_name(bad) if isinstance(bad, type) else type_name(bad)))
        return EnvelopeDesc(class_name(el), ElementKind.ENVELOPE,
                            tuple((p, type_name(types[p])) for p in ports), tuple(opaque))
    name = class_name(el) if isinstance(el, type) else type_name(el)
    return EnvelopeDesc(name, ElementKind.OTHER)


def describe_side(side: Side) -> SideDesc:
    """The neutral description of a side."""
    return SideDesc(tuple(describe_element(e) for e in side.elements), side.composite)
