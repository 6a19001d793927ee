"""The repository's own quality gates, run as part of the suite (and so in CI):
``mypy --strict`` on the package with our plugin, ``ruff``, and ``retriever check``
on the clean examples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_mypy_strict_with_our_plugin_is_clean() -> None:
    # pyproject.toml: [tool.mypy] strict = true, plugins = ["retriever_mypy"]
    out = _run("mypy", "retriever", "retriever_mypy", "--cache-dir",
               str(ROOT / ".mypy_cache"))
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]


def test_ruff_is_clean() -> None:
    assert shutil.which("ruff") or True
    out = _run("ruff", "check", ".")
    assert out.returncode == 0, out.stdout[-5000:]


def test_retriever_check_examples_is_clean() -> None:
    out = _run("retriever.cli.main", "check", "examples")
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
