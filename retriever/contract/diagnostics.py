"""Diagnostics: what a rule reports, as plain data every front end can render."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    """How serious a diagnostic is."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    """Where a problem is: a source position and/or a graph element.

    Every part is optional; front ends fill what they know (the mypy plugin knows a
    line, ``Pipeline.validate()`` knows the flow and port).
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    flow: str | None = None
    port: str | None = None
    edge: str | None = None

    def describe(self) -> str:
        """A short human-readable rendering of the graph part of the location."""
        parts = []
        if self.edge:
            parts.append(f"edge {self.edge}")
        elif self.flow:
            parts.append(f"flow {self.flow!r}")
        if self.port:
            parts.append(f"port {self.port!r}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the rule engine: a stable code, a message and a hint to fix it."""

    code: str
    message: str
    hint: str
    location: Location = field(default_factory=Location)
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        """``CODE message (where) -- hint``, one line, for logs and exceptions."""
        where = self.location.describe()
        text = f"{self.code} {self.message}"
        if where:
            text += f" [{where}]"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def at(self, **kwargs: object) -> Diagnostic:
        """Return a copy with some location fields replaced."""
        loc = self.location
        values: dict[str, object] = {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "flow": loc.flow,
            "port": loc.port,
            "edge": loc.edge,
        }
        values.update(kwargs)
        return Diagnostic(
            self.code, self.message, self.hint, Location(**values),  # type: ignore[arg-type]
            self.severity,
        )
