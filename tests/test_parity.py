"""Parity: one fixture per rule, judged by all three front ends with the same code.

Front ends: the mypy plugin, ``retriever check`` and ``Pipeline.validate()`` (with the
authoring checks that run while the graph is built). A rule a front end cannot see is
listed in ``INVISIBLE`` and in docs/checking.md; for those the test asserts that the
front end indeed stays silent rather than reporting something else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mypy import api

from retriever.check import check_paths
from retriever.contract.catalogue import RULES
from retriever.contract.errors import ContractError, RetrieverError
from retriever.flow import Latest, Pipeline
from retriever.flow.settings import init, settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "check_fixtures" / "parity"
#: Rules some front end cannot see, and why (mirrored in docs/checking.md).
INVISIBLE: dict[str, set[str]] = {
    "RET107": {"mypy"},  # needs every connection of a graph at once
    "RET108": {"mypy"},  # depends on retriever.init(default_sync=...) at runtime
    "RET109": {"mypy"},  # depends on constructor argument values
    "RET110": {"mypy"},  # mypy's own arg-type error reports it
    "RET111": {"mypy"},  # which pipeline a handle belongs to is runtime state
    "RET112": {"mypy"},  # same object on both ends: runtime identity
}
#: Codes without a parity fixture: not graph rules.
NOT_GRAPH_RULES = {
    "RET006",  # unknown port accessed at runtime (envelope/_get_signal), no static form
    "RET900",  # the checker could not import a module (tested in test_check_cli)
    "RET901",  # a registered factory failed (tested in test_check_cli)
}
STRICT = {"RET004"}
CODES = sorted(set(RULES) - NOT_GRAPH_RULES)
#: Graphs every front end must accept without a diagnostic (clean_*.py).
CLEAN = sorted(p.stem for p in FIXTURES.glob("clean_*.py"))


def fixture(code: str) -> Path:
    return FIXTURES / f"{code.lower()}.py"


def test_every_rule_has_a_fixture_or_a_reason() -> None:
    for code in RULES:
        assert code in NOT_GRAPH_RULES or fixture(code).is_file(), code


def _mypy_codes(config: Path, cache: Path, files: list[Path]) -> dict[str, set[str]]:
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        out, err, _ = api.run(["--config-file", str(config), "--cache-dir", str(cache),
                               "--no-error-summary",
                               *[str(f.relative_to(ROOT)) for f in files]])
    finally:
        os.chdir(here)
    assert "INTERNAL ERROR" not in out + err, out + err
    found: dict[str, set[str]] = {}
    for line in out.splitlines():
        if ": error: " in line and line.rstrip().endswith("]"):
            code = line.rstrip()[:-1].rsplit("[", 1)[1]
            found.setdefault(Path(line.split(":", 1)[0]).stem.upper(), set()).add(code)
    return found


@pytest.fixture(scope="module")
def mypy_codes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    tmp = tmp_path_factory.mktemp("parity")
    base = (f"[mypy]\nplugins = retriever_mypy\nmypy_path = {FIXTURES}\n"
            "[mypy-retriever.*]\nignore_errors = True\n")
    (tmp / "plain.ini").write_text(base)
    (tmp / "strict.ini").write_text(base + "[retriever_mypy]\nstrict_single_io = true\n")
    plain = [fixture(c) for c in CODES if c not in STRICT]
    plain += [FIXTURES / f"{name}.py" for name in CLEAN]
    codes = _mypy_codes(tmp / "plain.ini", tmp / "cache", plain)
    codes.update(_mypy_codes(tmp / "strict.ini", tmp / "cache",
                             [fixture(c) for c in sorted(STRICT)]))
    return codes


def _validate_codes(path: Path, strict: bool, explicit_sync: bool = False) -> set[str]:
    """Build the fixture's graph as a user script would, then ``validate()`` it."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    name = f"_parity_validate_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ContractError as exc:  # authoring checks raise at the offending line
        return set(exc.codes)
    except RetrieverError as exc:
        return {exc.code}
    codes: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, Pipeline):
            try:
                value.validate(strict_single_io=strict, explicit_sync=explicit_sync)
            except ContractError as exc:
                codes.update(exc.codes)
    return codes


@pytest.fixture(autouse=True)
def no_default_sync() -> Any:
    saved = settings().default_sync
    init(default_sync=None)
    yield
    init(default_sync=saved)


@pytest.mark.parametrize("code", CODES)
def test_same_code_everywhere(code: str, mypy_codes: dict[str, set[str]]) -> None:
    strict = code in STRICT
    path = fixture(code)
    seen = {
        "validate": _validate_codes(path, strict),
        "check": {d.code for d in check_paths([str(path)], strict_single_io=strict).errors},
        "mypy": {c for c in mypy_codes.get(code, set()) if c.startswith("RET")},
    }
    for front_end, codes in seen.items():
        if front_end in INVISIBLE.get(code, set()):
            assert code not in codes, f"{front_end} now sees {code}: update INVISIBLE"
            assert not codes, f"{front_end} reported {codes} for a fixture it cannot judge"
        else:
            assert code in codes, f"{front_end} missed {code} (reported {codes})"


@pytest.mark.parametrize("name", CLEAN)
def test_clean_graph_passes_everywhere(name: str, mypy_codes: dict[str, set[str]]) -> None:
    path = FIXTURES / f"{name}.py"
    assert _validate_codes(path, strict=False) == set()
    assert check_paths([str(path)]).diagnostics == []
    assert mypy_codes.get(name.upper(), set()) == set()


def test_strict_rule_is_silent_when_not_strict() -> None:
    path = fixture("RET004")
    assert check_paths([str(path)]).ok
    assert _validate_codes(path, strict=False) == set()


def test_explicit_sync_mode_takes_away_the_rshift_fallback(
        mypy_codes: dict[str, set[str]]) -> None:
    path = FIXTURES / "clean_rshift.py"
    assert _validate_codes(path, strict=False, explicit_sync=True) == {"RET108"}
    found = check_paths([str(path)], explicit_sync=True).errors
    assert {d.code for d in found} == {"RET108"} and len(found) == 2  # >> and then()
    assert all("then/>>" in d.message for d in found)
    assert {d.location.line for d in found} == {10, 11}  # the `>>` and `then` lines
    # RET108 depends on runtime defaults, which mypy cannot see (see INVISIBLE).
    assert mypy_codes.get("CLEAN_RSHIFT", set()) == set()
    init(default_sync=Latest())
    try:  # a default satisfies the strict mode, as it does for connect()
        assert _validate_codes(path, strict=False, explicit_sync=True) == set()
    finally:
        init(default_sync=None)
