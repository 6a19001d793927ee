"""Every ```python block of docs/worker.md runs (in order, in one namespace)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from retriever.worker import virtual_in, virtual_out

DOC = Path(__file__).resolve().parent.parent / "docs" / "worker.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_doc_has_python_blocks() -> None:
    assert len(BLOCK.findall(DOC.read_text())) >= 8


def test_worker_doc_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETRIEVER_WORKER_STATE_DIR", str(tmp_path / "state"))
    virtual_in.reset()
    virtual_out.reset()
    module = types.ModuleType("worker_docs")  # a real module: @io resolves names there
    monkeypatch.setitem(sys.modules, "worker_docs", module)
    namespace: dict[str, Any] = module.__dict__
    try:
        for i, block in enumerate(BLOCK.findall(DOC.read_text())):
            code = compile(block, f"{DOC.name}[python block {i}]", "exec")
            exec(code, namespace)
    finally:
        virtual_in.reset()
        virtual_out.reset()
