"""``retriever check`` imports checked modules in a child process with a time limit, so
a module that exits, crashes or hangs at import is reported and never hides the others."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BAD_FLOW = """
from retriever.flow import Flow, io

class NotAnEnvelope:
    x: int

class Bad(Flow[NotAnEnvelope, None]):
    def step(self, input: NotAnEnvelope) -> None:
        return None
"""

EXITS = "import os\nos._exit(0)\n"
CRASHES = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
HANGS = "while True:\n    pass\n"
FACTORY_EXITS = """
import os
from retriever.registry.pipeline import register_pipeline

@register_pipeline("exits-when-built")
def build():
    os._exit(0)
"""


def _check(*args: str, cwd: Path) -> tuple[int, dict[str, object], str]:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "check", "--format",
                          "json", *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    return out.returncode, json.loads(out.stdout), out.stderr


def _by_file(doc: dict[str, object]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for d in doc["diagnostics"]:  # type: ignore[attr-defined]
        found.setdefault(Path(d["file"]).name, set()).add(d["code"])
    return found


def test_exit_crash_and_hang_at_import_are_reported_and_the_rest_is_checked(
        tmp_path: Path) -> None:
    (tmp_path / "a_exits.py").write_text(EXITS)
    (tmp_path / "b_bad.py").write_text(BAD_FLOW)
    (tmp_path / "c_crashes.py").write_text(CRASHES)
    (tmp_path / "d_hangs.py").write_text(HANGS)
    (tmp_path / "e_bad_too.py").write_text(BAD_FLOW)
    status, doc, _ = _check("--timeout", "1.5", str(tmp_path), cwd=tmp_path)
    assert status == 1
    found = _by_file(doc)
    assert found == {"a_exits.py": {"RET900"}, "b_bad.py": {"RET001"},
                     "c_crashes.py": {"RET900"}, "d_hangs.py": {"RET900"},
                     "e_bad_too.py": {"RET001"}}
    messages = {Path(d["file"]).name: d["message"] for d in doc["diagnostics"]}
    assert "exit status 0" in messages["a_exits.py"]
    assert "SIGSEGV" in messages["c_crashes.py"]
    assert "did not finish within 1.5 s" in messages["d_hangs.py"]
    assert doc["checked"]["files"] == 5  # type: ignore[index]


def test_a_module_exiting_alone_is_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text(EXITS)
    status, doc, _ = _check(str(tmp_path / "exits.py"), cwd=tmp_path)
    assert status == 1 and _by_file(doc) == {"exits.py": {"RET900"}}


def test_a_factory_exiting_is_reported_at_its_file(tmp_path: Path) -> None:
    (tmp_path / "reg.py").write_text(FACTORY_EXITS)
    (tmp_path / "z_bad.py").write_text(BAD_FLOW)
    status, doc, _ = _check(str(tmp_path), cwd=tmp_path)
    assert status == 1
    assert _by_file(doc) == {"reg.py": {"RET901"}, "z_bad.py": {"RET001"}}


def test_clean_check_output_and_prints_still_flow(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text("print('hello from import')\n")
    status, doc, err = _check(str(tmp_path), cwd=tmp_path)
    assert status == 0 and doc["diagnostics"] == []
    assert "hello from import" in err


def test_a_process_started_at_import_does_not_stall_or_outlive_the_check(
        tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    (tmp_path / "starts_daemon.py").write_text(
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n")
    status, doc, _ = _check("--timeout", "20", str(tmp_path), cwd=tmp_path)
    assert status == 0 and doc["diagnostics"] == []
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text(
    ).split()[2]
