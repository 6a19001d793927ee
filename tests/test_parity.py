"""Parity, generated from the rule catalogue: every rule, every front end, exact codes.

Each rule has a bad fixture (``tests/check_fixtures/parity/retNNN.py``) and a clean one
(``retNNN_ok.py``). The front ends that enforce a rule are listed in the catalogue
(``Rule.front_ends``); for the bad fixture each of them must report exactly ``{code}``
and every other front end must report nothing, and for the clean fixture every front
end must report nothing. Only rule codes (``RETnnn``) are compared: mypy's own errors
(``arg-type``) are not the contract's business.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mypy import api

from retriever.check import check_paths
from retriever.contract.catalogue import CHECK, FRONT_ENDS, MYPY, RULES, VALIDATE
from retriever.contract.errors import ContractError, RetrieverError
from retriever.flow import Latest, Pipeline
from retriever.flow.settings import init, settings
from retriever.registry import unregister_pipeline
from retriever.registry.pipeline import registered_entries

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "check_fixtures" / "parity"
STRICT = {"RET004"}
CODES = sorted(RULES)
CASES = [(code, clean) for code in CODES for clean in (False, True)]
#: Graphs (not tied to one rule) every front end must accept: clean_*.py.
CLEAN = sorted(p.stem for p in FIXTURES.glob("clean_*.py"))


def fixture(code: str, clean: bool = False) -> Path:
    return FIXTURES / f"{code.lower()}{'_ok' if clean else ''}.py"


def expected(code: str, clean: bool, front_end: str) -> set[str]:
    """What ``front_end`` must report for the fixture: generated from the catalogue."""
    return set() if clean or front_end not in RULES[code].front_ends else {code}


def test_every_rule_has_a_bad_and_a_clean_fixture() -> None:
    for code in RULES:
        assert fixture(code).is_file(), code
        assert fixture(code, clean=True).is_file(), code


def test_every_rule_names_real_front_ends_and_why_not() -> None:
    for code, rule in RULES.items():
        assert rule.front_ends and set(rule.front_ends) <= set(FRONT_ENDS), code
        # A front end left out of a rule needs a reason (docs/checking.md shows it).
        assert (set(rule.front_ends) == set(FRONT_ENDS)) == (not rule.blind_spot), code


Finding = tuple[str, str]  # (code, message)


def _mypy_codes(config: Path, cache: Path, files: list[Path]) -> dict[str, set[Finding]]:
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        out, err, _ = api.run(["--config-file", str(config), "--cache-dir", str(cache),
                               "--no-error-summary",
                               *[str(f.relative_to(ROOT)) for f in files]])
    finally:
        os.chdir(here)
    assert "INTERNAL ERROR" not in out + err, out + err
    found: dict[str, set[Finding]] = {f.stem: set() for f in files}
    for line in out.splitlines():
        if ": error: " in line and line.rstrip().endswith("]"):
            text, code = line.rstrip()[:-1].rsplit("  [", 1)
            if code.startswith("RET"):
                message = text.split(": error: ", 1)[1]
                found[Path(line.split(":", 1)[0]).stem].add((code, message))
    return found


@pytest.fixture(scope="module")
def mypy_codes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[Finding]]:
    """One mypy run per configuration over every fixture."""
    tmp = tmp_path_factory.mktemp("parity")
    base = (f"[mypy]\nplugins = retriever_mypy\nmypy_path = {FIXTURES}\n"
            "[mypy-retriever.*]\nignore_errors = True\n")
    (tmp / "plain.ini").write_text(base)
    (tmp / "strict.ini").write_text(base + "[retriever_mypy]\nstrict_single_io = true\n")
    plain = [fixture(c, k) for c, k in CASES if c not in STRICT]
    plain += [FIXTURES / f"{name}.py" for name in CLEAN]
    codes = _mypy_codes(tmp / "plain.ini", tmp / "cache", plain)
    codes.update(_mypy_codes(tmp / "strict.ini", tmp / "cache",
                             [fixture(c, k) for c, k in CASES if c in STRICT]))
    return codes


def validate_findings(path: Path, strict: bool, explicit_sync: bool = False) -> set[Finding]:
    """Run the fixture as a user script would, then ``validate()`` its pipelines.

    Authoring checks raise at the offending line; a module that fails for another
    reason never reaches ``validate()``, so that front end has nothing to say.
    """
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    name = f"_parity_validate_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    before = {e.name for e in registered_entries()}
    try:
        spec.loader.exec_module(module)
    except ContractError as exc:
        return {(d.code, d.message) for d in exc.diagnostics}
    except RetrieverError as exc:
        return {(exc.code, exc.message)}
    except Exception:  # not a retriever failure: validate() never ran
        return set()
    finally:
        for entry in registered_entries():
            if entry.name not in before:
                unregister_pipeline(entry.name)
    found: set[Finding] = set()
    for value in vars(module).values():
        if isinstance(value, Pipeline):
            try:
                value.validate(strict_single_io=strict, explicit_sync=explicit_sync)
            except ContractError as exc:
                found.update((d.code, d.message) for d in exc.diagnostics)
    return found


def validate_codes(path: Path, strict: bool) -> set[str]:
    return {code for code, _ in validate_findings(path, strict)}


@functools.cache
def check_findings(path: Path, strict: bool) -> set[Finding]:
    """``retriever check`` on the fixture (registered factories cleaned up after).

    Cached: the checker imports a module once per process, as documented.
    """
    before = {e.name for e in registered_entries()}
    try:
        return {(d.code, d.message)
                for d in check_paths([str(path)], strict_single_io=strict).errors}
    finally:
        for entry in registered_entries():
            if entry.name not in before:
                unregister_pipeline(entry.name)


@pytest.fixture(autouse=True)
def no_default_sync() -> Any:
    saved = settings().default_sync
    init(default_sync=None)
    yield
    init(default_sync=saved)


@pytest.mark.parametrize(("code", "clean"), CASES,
                         ids=[f"{c}{'-clean' if k else ''}" for c, k in CASES])
def test_exact_codes_on_every_front_end(code: str, clean: bool,
                                        mypy_codes: dict[str, set[Finding]]) -> None:
    strict = code in STRICT
    path = fixture(code, clean)
    seen = {
        VALIDATE: {c for c, _ in validate_findings(path, strict)},
        CHECK: {c for c, _ in check_findings(path, strict)},
        MYPY: {c for c, _ in mypy_codes[path.stem]},
    }
    wanted = {fe: expected(code, clean, fe) for fe in FRONT_ENDS}
    assert seen == wanted


def words(message: str) -> str:
    """A message without its flow names' spelling: mypy names classes (``BadRet``), a
    built graph names nodes (``bad_ret``, ``sensor_2``); the words must be the same."""
    unqualified = re.sub(r"\b(?:\w+\.)+(?=\w)", "", message)  # pkg.mod.Reading -> Reading
    return re.sub(r"[_\d]", "", unqualified.lower())


@pytest.mark.parametrize("code", [c for c in CODES if len(RULES[c].front_ends) > 1])
def test_same_words_on_every_front_end(code: str,
                                       mypy_codes: dict[str, set[Finding]]) -> None:
    strict = code in STRICT
    path = fixture(code)
    seen = {
        VALIDATE: validate_findings(path, strict),
        CHECK: check_findings(path, strict),
        MYPY: mypy_codes[path.stem],
    }
    texts = {fe: {words(m) for _, m in seen[fe]} for fe in RULES[code].front_ends}
    first = next(iter(texts.values()))
    assert first and all(t == first for t in texts.values()), texts


def test_strict_rule_is_silent_when_not_strict() -> None:
    path = fixture("RET004")
    assert check_paths([str(path)]).ok
    assert validate_codes(path, strict=False) == set()


def test_docs_table_is_the_catalogue() -> None:
    doc = (ROOT / "docs" / "checking.md").read_text()
    section = doc.split("## What each front end can see", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`RET"):
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(RULES)
    for code, rule in RULES.items():
        assert rows[code][1] == rule.name, code
        for cell, fe in zip(rows[code][2:], (MYPY, CHECK, VALIDATE), strict=True):
            assert cell.startswith("yes") == (fe in rule.front_ends), (code, fe)
            if fe not in rule.front_ends:
                assert rule.blind_spot in cell, (code, fe)


@pytest.mark.parametrize("name", CLEAN)
def test_clean_graph_passes_everywhere(name: str, mypy_codes: dict[str, set[Finding]]) -> None:
    path = FIXTURES / f"{name}.py"
    assert validate_findings(path, strict=False) == set()
    assert check_findings(path, strict=False) == set()
    assert mypy_codes[name] == set()


def test_explicit_sync_mode_takes_away_the_rshift_fallback(
        mypy_codes: dict[str, set[Finding]], tmp_path: Path) -> None:
    path = FIXTURES / "clean_rshift.py"
    validated = validate_findings(path, False, explicit_sync=True)
    found = check_paths([str(path)], explicit_sync=True).errors
    assert {d.code for d in found} == {"RET108"} and len(found) == 2  # >> and then()
    assert all("then/>>" in d.message for d in found)
    assert {d.location.line for d in found} == {10, 11}  # the `>>` and `then` lines
    config = tmp_path / "explicit.ini"
    config.write_text(f"[mypy]\nplugins = retriever_mypy\nmypy_path = {FIXTURES}\n"
                      "[mypy-retriever.*]\nignore_errors = True\n"
                      "[retriever_mypy]\nexplicit_sync = true\n")
    seen_by_mypy = _mypy_codes(config, tmp_path / "cache", [path])["clean_rshift"]
    # The same words on every front end (validate() raises at the first edge it lowers).
    assert {words(m) for _, m in seen_by_mypy} == {words(d.message) for d in found}
    assert {words(m) for _, m in validated} <= {words(d.message) for d in found}
    assert validated and {c for c, _ in seen_by_mypy} == {"RET108"}
    # The default mode of every front end accepts the same file.
    assert mypy_codes["clean_rshift"] == set()
    init(default_sync=Latest())
    try:  # a default satisfies the strict mode, as it does for connect()
        assert validate_findings(path, False, explicit_sync=True) == set()
    finally:
        init(default_sync=None)

