"""What a check found (kept apart from the engine so that reading a result, as the
parent of an isolated check does, needs none of the engine's imports)."""

from __future__ import annotations

from dataclasses import dataclass, field

from retriever.contract.diagnostics import Diagnostic, Severity


@dataclass
class CheckResult:
    """What a check found, and how much it looked at."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    flows: int = 0
    pipelines: int = 0

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics of error severity."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        """Whether no error was found."""
        return not self.errors
