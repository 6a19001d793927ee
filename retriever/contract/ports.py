"""The port model: aliases for composite sides and resolution of port names.

A single-envelope side publishes its fields as ports (``value``). A composite side
qualifies them by the element's alias (``A.value``); aliases are the class names,
or ``Name__1``, ``Name__2`` ... in declaration order when class names collide.
An unqualified name resolves only when exactly one element has that field.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .model import ElementKind, SideDesc


def short_name(name: str) -> str:
    """``pkg.mod.Name`` -> ``Name``."""
    return name.rsplit(".", 1)[-1]


def aliases(names: list[str]) -> list[str]:
    """Aliases for composite elements, deterministic by declaration order."""
    shorts = [short_name(n) for n in names]
    counts = Counter(shorts)
    seen: Counter[str] = Counter()
    out = []
    for s in shorts:
        if counts[s] > 1:
            seen[s] += 1
            out.append(f"{s}__{seen[s]}")
        else:
            out.append(s)
    return out


@dataclass(frozen=True)
class Port:
    """One port: its canonical name, the element alias and field, and its type name."""

    name: str
    alias: str
    field: str
    type: str


@dataclass(frozen=True)
class Resolution:
    """Outcome of resolving a port name: the port, or why not."""

    port: Port | None
    ambiguous: tuple[str, ...] = ()


class PortTable:
    """All ports of one side, with unqualified/qualified lookup."""

    def __init__(self, side: SideDesc) -> None:
        envs = [e for e in side.elements if e.kind is ElementKind.ENVELOPE]
        self.composite = side.composite and len(side.elements) > 1
        names = aliases([e.name for e in envs])
        ports: list[Port] = []
        for alias, env in zip(names, envs, strict=True):
            for fname, ftype in env.fields:
                canonical = f"{alias}.{fname}" if self.composite else fname
                ports.append(Port(canonical, alias, fname, ftype))
        self.ports: tuple[Port, ...] = tuple(ports)
        self.aliases: tuple[str, ...] = tuple(names)
        self._by_name = {p.name: p for p in ports}
        self._by_qualified = {f"{p.alias}.{p.field}": p for p in ports}
        by_field: dict[str, list[Port]] = {}
        for p in ports:
            by_field.setdefault(p.field, []).append(p)
        self._by_field = by_field

    def names(self) -> list[str]:
        """Canonical port names in declaration order."""
        return [p.name for p in self.ports]

    def resolve(self, name: str) -> Resolution:
        """Resolve a qualified or unique unqualified name."""
        if name in self._by_name:
            return Resolution(self._by_name[name])
        if name in self._by_qualified:
            return Resolution(self._by_qualified[name])
        found = self._by_field.get(name, [])
        if len(found) == 1:
            return Resolution(found[0])
        if len(found) > 1:
            return Resolution(None, tuple(f"{p.alias}.{p.field}" for p in found))
        return Resolution(None)

    def by_field(self, field: str) -> list[Port]:
        """Every port whose field is ``field`` (any alias)."""
        return list(self._by_field.get(field, []))


@lru_cache(maxsize=4096)
def port_table(side: SideDesc) -> PortTable:
    """The (cached) :class:`PortTable` of a side; tables are read-only once built."""
    return PortTable(side)
