"""docs/troubleshooting.md lists every error code, generated from the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from retriever.contract import catalogue
from retriever.contract.troubleshooting import render, updated

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "troubleshooting.md"
CODE = re.compile(r"""(?<=["'])RET\d{3}(?=["'])""")  # a code as a string literal


def test_the_page_is_what_the_catalogue_generates() -> None:
    page = PAGE.read_text()
    assert updated(page) == page, (
        "docs/troubleshooting.md is out of date: run "
        "python -m retriever.contract.troubleshooting docs/troubleshooting.md")
    for code in catalogue.every_code():
        assert f"| `{code}` |" in render()


def test_every_code_the_code_uses_is_in_the_catalogue() -> None:
    known = catalogue.every_code()
    used: dict[str, set[str]] = {}
    for path in (ROOT / "retriever").rglob("*.py"):
        for code in CODE.findall(path.read_text()):
            used.setdefault(code, set()).add(path.name)
    missing = {c: sorted(files) for c, files in used.items() if c not in known}
    assert not missing, f"codes raised but not in contract/catalogue.py: {missing}"


def test_each_code_has_one_entry_with_a_cause_and_a_fix() -> None:
    codes = [r.code for r in catalogue._RULES] + [e.code for e in catalogue._ERRORS]
    assert len(codes) == len(set(codes))
    for code, (name, cause, fix) in catalogue.every_code().items():
        assert re.fullmatch(r"RET\d{3}", code) and name and cause and fix, code


def test_error_classes_carry_catalogued_codes() -> None:
    import retriever.plugins
    import retriever.record.errors
    import retriever.registry.pipeline
    import retriever.types.errors
    import retriever.worker.errors
    from retriever.check.sources import CheckUsageError
    from retriever.contract.errors import RetrieverError

    del retriever, CheckUsageError
    seen = []
    stack = [RetrieverError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    for cls in seen:
        assert cls.code in catalogue.every_code(), (cls, cls.code)
