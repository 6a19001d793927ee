"""Rendering a :class:`CheckResult` as text, JSON, GitHub annotations or SARIF."""

from __future__ import annotations

import json
import os
from pathlib import Path

from retriever import __version__
from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic

from .result import CheckResult

FORMATS = ("text", "json", "github", "sarif")
#: The SARIF version written by ``--format sarif`` (what GitHub code scanning reads).
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


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


def _uri(file: str) -> str:
    """A relative path as a URI reference (``/`` separators), absolute ones as file URIs."""
    path = Path(file)
    return path.as_uri() if path.is_absolute() else path.as_posix()


def _sarif_rules(codes: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for code in codes:
        rule = RULES.get(code)
        entry: dict[str, object] = {"id": code}
        if rule is not None:
            entry.update({
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "help": {"text": rule.hint},
                "defaultConfiguration": {"level": "error"},
                "properties": {"frontEnds": list(rule.front_ends)},
            })
        out.append(entry)
    return out


def render_sarif(result: CheckResult) -> str:
    """A SARIF 2.1.0 log: one run, the rules it used, one result per diagnostic.

    Lines and columns are 1-based, as SARIF counts them; file locations are relative to
    the working directory when they lie below it (``uriBaseId`` ``%SRCROOT%``).
    """
    codes = sorted({d.code for d in result.diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d in result.diagnostics:
        file, line, col = _pos(d)
        artifact: dict[str, str] = {"uri": _uri(file)}
        if not Path(file).is_absolute():
            artifact["uriBaseId"] = "%SRCROOT%"
        text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        item: dict[str, object] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error" if d.severity.value == "error" else "warning",
            "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": artifact,
                "region": {"startLine": line, "startColumn": col},
            }}],
        }
        graph = {k: v for k, v in (("flow", d.location.flow), ("port", d.location.port),
                                   ("edge", d.location.edge)) if v}
        if graph:
            item["properties"] = graph
        results.append(item)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "retriever check", "version": __version__,
                                "informationUri": "https://example.invalid/retriever",
                                "rules": _sarif_rules(codes)}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2)


def render(result: CheckResult, fmt: str = "text") -> str:
    """The result in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return render_json(result)
    if fmt == "sarif":
        return render_sarif(result)
    if fmt == "github":
        return render_github(result)
    return render_text(result)
