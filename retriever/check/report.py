"""Rendering a :class:`CheckResult` as text, JSON or GitHub workflow annotations."""

from __future__ import annotations

import json
import os
from pathlib import Path

from retriever.contract.diagnostics import Diagnostic

from .result import CheckResult

FORMATS = ("text", "json", "github")


def display_path(file: str | None) -> str:
    """``file`` relative to the working directory when it lies below it."""
    if not file:
        return "<unknown>"
    try:
        return os.path.relpath(file) if Path(file).resolve().is_relative_to(Path.cwd()) else file
    except (OSError, ValueError):
        return file


def _pos(d: Diagnostic) -> tuple[str, int, int]:
    return display_path(d.location.file), d.location.line or 1, d.location.column or 1


def summary(result: CheckResult) -> str:
    """One line: how many problems in how much code."""
    n = len(result.errors)
    files = len({d.location.file for d in result.errors})
    head = "no problems found" if n == 0 else (
        f"found {n} problem{'s' * (n != 1)} in {files} file{'s' * (files != 1)}")
    return (f"{head} (checked {result.files} file{'s' * (result.files != 1)}, "
            f"{result.flows} flow class{'es' * (result.flows != 1)}, "
            f"{result.pipelines} pipeline{'s' * (result.pipelines != 1)})")


def render_text(result: CheckResult) -> str:
    """``file:line:col: CODE message`` then an indented hint line, per diagnostic."""
    lines = []
    for d in result.diagnostics:
        file, line, col = _pos(d)
        where = d.location.describe()
        lines.append(f"{file}:{line}:{col}: {d.code} {d.message}"
                     + (f" [{where}]" if where and where not in d.message else ""))
        if d.hint:
            lines.append(f"    hint: {d.hint}")
    return "\n".join(lines)


def render_json(result: CheckResult) -> str:
    """A JSON document: the diagnostics and what was checked."""
    doc = {
        "version": 1,
        "checked": {"files": result.files, "flows": result.flows,
                    "pipelines": result.pipelines},
        "diagnostics": [
            {"file": _pos(d)[0], "line": _pos(d)[1], "column": _pos(d)[2], "code": d.code,
             "severity": d.severity.value, "message": d.message, "hint": d.hint,
             "flow": d.location.flow, "port": d.location.port, "edge": d.location.edge}
            for d in result.diagnostics
        ],
    }
    return json.dumps(doc, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: CheckResult) -> str:
    """GitHub Actions workflow commands (``::error file=...::message``)."""
    lines = []
    for d in result.diagnostics:
        file, line, col = _pos(d)
        level = "error" if d.severity.value == "error" else "warning"
        body = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        lines.append(f"::{level} file={_escape_property(file)},line={line},col={col},"
                     f"title={_escape_property(d.code)}::{_escape_data(body)}")
    return "\n".join(lines)


def render(result: CheckResult, fmt: str = "text") -> str:
    """The result in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return render_json(result)
    if fmt == "github":
        return render_github(result)
    return render_text(result)
