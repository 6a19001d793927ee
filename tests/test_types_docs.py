"""Every ```python block of docs/types.md runs, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "types.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_types_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    # the same module name as tests/test_docs.py, so the registered example type is
    # recognised as the same class when both tests run in one process
    module = types.ModuleType("docs_types")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for i, code in enumerate(blocks):
        exec(compile(code, f"types.md[block {i}]", "exec", dont_inherit=True), module.__dict__)
    assert (tmp_path / "dataset" / "manifest.json").is_file()
