"""Every ```python block in README.md and docs/*.md runs (blocks of one file share a
namespace, in order). Shell sessions are fenced as ```bash/```console and not run."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
         if BLOCK.search(p.read_text())]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(path.read_text())
    monkeypatch.chdir(tmp_path)
    # A real module, so classes defined in the snippets have an importable home.
    module = types.ModuleType(f"docs_{path.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{path.name}[block {i}]", "exec", dont_inherit=True), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name} block {i} failed: {exc!r}\n{code}") from exc
