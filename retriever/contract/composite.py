"""Composite views: one object giving access to several envelopes of a flow side.

``inp.A.value`` and ``inp._get_signal("A.value")`` always work; ``inp.value`` works
when exactly one envelope has ``value`` and raises :class:`AmbiguousFieldError` naming
the qualified spellings otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .envelope import envelope_ports
from .errors import AmbiguousFieldError, RetrieverError


class CompositeView:
    """A view over several envelopes, addressed by alias (``Name`` or ``Name__k``)."""

    __slots__ = ("_aliases", "_by_field", "_parts")

    def __init__(self, aliases: Sequence[str], parts: Sequence[Any]) -> None:
        object.__setattr__(self, "_aliases", tuple(aliases))
        object.__setattr__(self, "_parts", dict(zip(aliases, parts, strict=True)))
        by_field: dict[str, list[str]] = {}
        for alias, part in zip(aliases, parts, strict=True):
            for f in envelope_ports(type(part)):
                by_field.setdefault(f, []).append(alias)
        object.__setattr__(self, "_by_field", by_field)

    # -- aliases and tuple-like access
    def __iter__(self) -> Any:
        return iter(self._parts[a] for a in self._aliases)

    def __len__(self) -> int:
        return len(self._aliases)

    def __getitem__(self, index: int) -> Any:
        return self._parts[self._aliases[index]]

    def _owner(self, field: str, action: str) -> str:
        owners = self._by_field.get(field)
        if not owners:
            raise AttributeError(
                f"composite view has no envelope or field {field!r} "
                f"(envelopes: {', '.join(self._aliases)})"
            )
        if len(owners) > 1:
            spelled = ", ".join(f"{a}.{field}" for a in owners)
            raise AmbiguousFieldError(
                f"cannot {action} {field!r}: several envelopes have it ({spelled})",
                hint=f"use a qualified name such as inp.{owners[0]}.{field} or "
                     f"inp._get_signal('{owners[0]}.{field}')",
            )
        return str(owners[0])

    def __getattr__(self, name: str) -> Any:
        parts = object.__getattribute__(self, "_parts")
        if name in parts:
            return parts[name]
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(parts[self._owner(name, "read")], name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._parts:
            self._parts[name] = value
            return
        setattr(self._parts[self._owner(name, "write")], name, value)

    def _split(self, name: str, action: str) -> tuple[Any, str]:
        if "." in name:
            alias, field = name.split(".", 1)
            if alias not in self._parts:
                raise RetrieverError(
                    f"no envelope {alias!r} in this composite view",
                    hint=f"envelopes are: {', '.join(self._aliases)}", code="RET006")
            return self._parts[alias], field
        return self._parts[self._owner(name, action)], name

    def _get_signal(self, name: str) -> Any:
        """Read a port by qualified (``A.value``) or unique unqualified name."""
        part, field = self._split(name, "read")
        return part._get_signal(field)

    def _set_signal(self, name: str, value: Any) -> None:
        """Write a port by qualified or unique unqualified name."""
        part, field = self._split(name, "write")
        part._set_signal(field, value)

    def _has_signal(self, name: str) -> bool:
        """Whether a port carries a value (qualified or unique unqualified name)."""
        part, field = self._split(name, "test")
        return bool(part._has_signal(field))

    def _signals(self) -> list[str]:
        """Qualified names of the ports that carry a value."""
        return [f"{a}.{f}" for a in self._aliases for f in self._parts[a]._signals()]

    def __repr__(self) -> str:
        inner = ", ".join(f"{a}={self._parts[a]!r}" for a in self._aliases)
        return f"CompositeView({inner})"
