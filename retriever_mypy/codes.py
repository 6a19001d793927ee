"""mypy error codes: one per contract rule, named exactly like the rule (``RET104``).

Every code is a sub-code of ``retriever``, so ``# type: ignore[retriever]`` silences
all of them on a line and ``# type: ignore[RET104]`` just one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mypy.errorcodes import ErrorCode, error_codes
from mypy.nodes import Context

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic

CATEGORY = "retriever"


def _code(code: str, description: str, parent: ErrorCode | None = None) -> ErrorCode:
    existing = error_codes.get(code)
    if existing is not None:  # the module was imported again (e.g. by a mypy daemon)
        return existing
    return ErrorCode(code, description, CATEGORY, sub_code_of=parent)


RETRIEVER = _code("retriever", "retriever typing-contract rules")
CODES: dict[str, ErrorCode] = {
    code: _code(code, rule.summary, RETRIEVER) for code, rule in RULES.items()
}

Fail = Callable[..., object]


def report(diagnostics: Iterable[Diagnostic], fail: Fail, note: Fail,
           context_of: Callable[[Diagnostic], Context]) -> None:
    """Report the static diagnostics as mypy errors (each with its hint as a note)."""
    for diag in diagnostics:
        rule = RULES.get(diag.code)
        if rule is None or not rule.static:
            continue
        ctx = context_of(diag)
        code = CODES[diag.code]
        fail(diag.message, ctx, code=code)
        if diag.hint:
            note(f"hint: {diag.hint}", ctx, code=code)
