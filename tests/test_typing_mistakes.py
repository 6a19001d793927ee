"""The deliberate-mistakes example: the checker and mypy (with our plugin) flag exactly
the lines marked ``# MISTAKE: RETnnn``, with those codes; the clean examples are clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = ROOT / "examples" / "typing_mistakes" / "mistakes.py"


def expected() -> set[tuple[int, str]]:
    out = set()
    for n, line in enumerate(MISTAKES.read_text().splitlines(), 1):
        m = re.search(r"# MISTAKE: (RET\d+)", line)
        if m:
            out.add((n, m.group(1)))
    return out


def test_checker_flags_exactly_the_marked_mistakes() -> None:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "check", str(MISTAKES)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    found = {(int(m.group(1)), m.group(2))
             for m in re.finditer(r"mistakes\.py:(\d+):\d+: (RET\d+)", out.stdout)}
    assert found == expected()


def test_checker_skips_the_mistakes_in_a_directory_run() -> None:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "check", "examples"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_with_plugin_flags_exactly_the_marked_lines() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(MISTAKES)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = re.findall(r"mistakes\.py:(\d+): error: .*\[([\w-]+)\]", out.stdout)
    ret = {(int(line), code) for line, code in errors if code.startswith("RET")}
    assert ret == expected(), out.stdout
    # mypy's own checks fire only where a mistake is marked (step's override on RET005).
    other_lines = {int(line) for line, code in errors if not code.startswith("RET")}
    assert other_lines <= {line for line, _ in expected()}, out.stdout
