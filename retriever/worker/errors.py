"""Typed errors of the function-worker API (codes RET850-RET899).

``RET85x``: the worker function does not fit its declaration (signature, options).
``RET86x``: a tick returned a value of the wrong shape.
``RET87x``: ``component.yml`` is malformed or names an unknown type.
``RET88x``: virtual streams and live configuration misuse.
``RET89x``: persisted worker state cannot be read or written.
"""

from __future__ import annotations

from retriever.contract.errors import RetrieverError

#: Stable codes, one per kind of mistake, with a short title (used in the docs).
CODES: dict[str, str] = {
    "RET850": "worker function parameters do not match the declared inputs",
    "RET851": "conflicting or invalid run() options",
    "RET852": "worker function cannot be loaded",
    "RET853": "local run inputs do not match the declared inputs",
    "RET860": "worker returned a non-dict where a dict was required",
    "RET861": "stateful worker returned no 'state'",
    "RET862": "streaming worker returned no 'pull_request' (or not an InputsPullRequest)",
    "RET863": "streaming output is not a list",
    "RET864": "multi-output worker did not return a tuple of the declared length",
    "RET865": "virtual-output worker returned no 'virtual_output' list",
    "RET866": "pull request does not list one shift per declared input",
    "RET870": "component.yml is malformed",
    "RET871": "component.yml names an unknown type",
    "RET872": "component.yml cannot be read",
    "RET880": "virtual stream used after close()/stop()",
    "RET881": "virtual-output callback failed",
    "RET882": "unknown or ill-typed config key",
    "RET890": "worker state file cannot be read or written",
}


class WorkerError(RetrieverError):
    """A function worker does not fit its declaration or returned the wrong shape.

    ``code`` is one of :data:`CODES`; the message says what was expected.
    """

    code = "RET850"

    def __init__(self, message: str, *, code: str, hint: str = "") -> None:
        super().__init__(message, hint=hint, code=code)


class ComponentError(WorkerError):
    """``component.yml`` is malformed, unreadable or names an unknown type."""

    code = "RET870"
