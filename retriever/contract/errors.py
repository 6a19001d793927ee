"""Typed errors. Every error carries a stable code, what it concerns and a hint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .diagnostics import Diagnostic


class RetrieverError(Exception):
    """Base class of every error retriever raises on purpose.

    ``code`` is stable across releases; ``hint`` says how to fix the problem.
    """

    code: str = "RET000"

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ContractError(RetrieverError):
    """One or more typing-contract or authoring rules were broken.

    ``diagnostics`` lists every problem found, not only the first.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], *, title: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        code = first.code if first else "RET000"
        if len(self.diagnostics) == 1 and first is not None and title is None:
            where = first.location.describe()
            msg = first.message + (f" [{where}]" if where else "")
            super().__init__(msg, hint=first.hint, code=code)
        else:
            head = title or f"{len(self.diagnostics)} problems found"
            body = "\n".join("  - " + d.render().replace("\n", "\n    ") for d in self.diagnostics)
            super().__init__(f"{head}:\n{body}", code=code)

    @property
    def codes(self) -> list[str]:
        """The rule codes of all diagnostics, in order."""
        return [d.code for d in self.diagnostics]


class ValidationError(ContractError):
    """``Pipeline.validate()`` found problems; all of them are listed."""


class AmbiguousFieldError(RetrieverError, AttributeError):
    """An unqualified field name matches several envelopes of a composite view."""

    code = "RET003"


class ConfigError(RetrieverError):
    """A configuration value (init config, clock, adapter, edge config) is invalid."""

    code = "RET200"


class IRError(RetrieverError):
    """An IR document is malformed or refers to something that cannot be loaded."""

    code = "RET300"


class FlowError(RetrieverError):
    """A flow raised while running. ``flow`` names it; the cause is chained."""

    code = "RET400"

    def __init__(
        self, flow: str, message: str, *, hint: str = "", traceback_text: str = "",
        code: str | None = None,
    ) -> None:
        self.flow = flow
        self.traceback_text = traceback_text
        self.detail = message  # the message without the flow prefix or the traceback
        text = f"flow {flow!r} failed: {message}"
        if traceback_text:
            text += "\n--- traceback from the flow ---\n" + traceback_text.rstrip()
        super().__init__(text, hint=hint, code=code)


class LagError(FlowError):
    """A flow with ``on_lag="error"`` fell behind its clock by at least one tick."""

    code = "RET401"


class BackendError(RetrieverError):
    """A backend could not start, run or stop a graph."""

    code = "RET500"


class MissingDependencyError(RetrieverError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "RET600"

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional dependency {package!r}, which is not installed",
            hint=f"install it with: pip install 'pyretriever[{extra}]'",
        )


def raise_if_any(diagnostics: Iterable[Diagnostic], *, title: str | None = None) -> None:
    """Raise a :class:`ContractError` listing ``diagnostics`` if there are any."""
    found = list(diagnostics)
    if found:
        raise ContractError(found, title=title)
