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


def test_mypy_outside_the_checkout_sees_the_package(tmp_path: Path) -> None:
    # An editable install must expose `retriever` through a plain .pth path (mypy reads
    # those, but not setuptools' import-hook finder), or the plugin silently does nothing.
    (tmp_path / "app.py").write_text(
        "from retriever.flow import Rate\n"
        "clock = Rate(hz=0)\n")
    (tmp_path / "mypy.ini").write_text("[mypy]\nplugins = retriever_mypy\n")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "app.py", "--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert "Cannot find implementation or library stub" not in out.stdout, out.stdout
    assert "app.py:2: error: Rate(hz=0): hz must be a positive finite number  [RET200]" in (
        out.stdout), out.stdout + out.stderr
