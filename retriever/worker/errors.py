"""Typed errors of the function-worker API (codes RET800-RET899).

``RET80x``: the worker function does not fit its declaration (signature, options).
``RET81x``: a tick returned a value of the wrong shape.
``RET82x``: ``component.yml`` is malformed or names an unknown type.
``RET83x``: virtual streams and live configuration misuse.
``RET84x``: persisted worker state cannot be read or written.
"""

from __future__ import annotations

from retriever.contract.errors import RetrieverError

#: Stable codes, one per kind of mistake, with a short title (used in the docs).
CODES: dict[str, str] = {
    "RET800": "worker function parameters do not match the declared inputs",
    "RET801": "conflicting or invalid run() options",
    "RET802": "worker function cannot be loaded",
    "RET803": "local run inputs do not match the declared inputs",
    "RET810": "worker returned a non-dict where a dict was required",
    "RET811": "stateful worker returned no 'state'",
    "RET812": "streaming worker returned no 'pull_request' (or not an InputsPullRequest)",
    "RET813": "streaming output is not a list",
    "RET814": "multi-output worker did not return a tuple of the declared length",
    "RET815": "virtual-output worker returned no 'virtual_output' list",
    "RET816": "pull request does not list one shift per declared input",
    "RET820": "component.yml is malformed",
    "RET821": "component.yml names an unknown type",
    "RET822": "component.yml cannot be read",
    "RET830": "virtual stream used after close()/stop()",
    "RET831": "virtual-output callback failed",
    "RET832": "unknown or ill-typed config key",
    "RET840": "worker state file cannot be read or written",
}


class WorkerError(RetrieverError):
    """A function worker does not fit its declaration or returned the wrong shape.

    ``code`` is one of :data:`CODES`; the message says what was expected.
    """

    code = "RET800"

    def __init__(self, message: str, *, code: str, hint: str = "") -> None:
        super().__init__(message, hint=hint, code=code)


class ComponentError(WorkerError):
    """``component.yml`` is malformed, unreadable or names an unknown type."""

    code = "RET820"
