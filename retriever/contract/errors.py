"""Typed errors. Every error carries a stable code, what it concerns and a hint."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

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

    def __init__(self, diagnostics: Sequence[Diagnostic], *, title: str | None = None,
                 code: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        if code is None:
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


class LoanError(FlowError):
    """A loaned output array (``Flow.loan``) was misused: published on another port,
    published twice, published as a view of another shape, or asked for with an
    unusable shape or dtype. Refused before any subscriber can see a wrong frame."""

    code = "RET402"


class BackendError(RetrieverError):
    """A backend could not start, run or stop a graph."""

    code = "RET500"


class MissingDependencyError(RetrieverError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "RET600"

    def __init__(self, package: str, extra: str, purpose: str, *,
                 code: str | None = None) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional dependency {package!r}, which is not installed",
            hint=f"install it with: pip install 'pyretriever[{extra}]'", code=code,
        )


def raise_if_any(diagnostics: Iterable[Diagnostic], *, title: str | None = None) -> None:
    """Raise a :class:`ContractError` listing ``diagnostics`` if there are any."""
    found = list(diagnostics)
    if found:
        raise ContractError(found, title=title)


class ErrorCollector:
    """Runs several clean-up steps, keeps going when one fails, and reports *every*
    failure at the end (never only the first).

    ``with errors.step(): ...`` records what the block raised; :meth:`raise_all` then
    raises nothing, the single error, or an ``ExceptionGroup`` of all of them. A
    ``KeyboardInterrupt`` or ``SystemExit`` among them is raised itself (so Ctrl-C still
    reads as Ctrl-C), with the other errors attached as notes.
    """

    def __init__(self, errors: Iterable[BaseException] = ()) -> None:
        self.errors: list[BaseException] = []
        for e in errors:
            self.add(e)

    @contextmanager
    def step(self) -> Iterator[None]:
        """Record what the block raises instead of letting it escape."""
        try:
            yield
        except BaseException as exc:
            self.add(exc)

    def add(self, exc: BaseException) -> None:
        """Record an error caught elsewhere (the same error twice counts once)."""
        if not any(exc is e for e in self.errors):
            self.errors.append(exc)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_all(self, message: str) -> None:
        """Raise what was recorded (see the class doc); ``message`` heads a group."""
        errors = self.errors
        if not errors:
            return
        urgent = [e for e in errors if not isinstance(e, Exception)]
        if urgent:
            first = urgent[0]
            for other in errors:
                if other is not first:
                    first.add_note(f"also: {type(other).__name__}: {other}")
            raise first
        if len(errors) == 1:
            raise errors[0]
        raise ExceptionGroup(f"{message} ({len(errors)} errors)",
                             [e for e in errors if isinstance(e, Exception)])
