"""``retriever graph`` and ``retriever run`` from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "examples/tutorial/b_ir_and_execution/02_run_backends.py:build"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "retriever.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_graph_text_mermaid_and_dot(tmp_path: Path) -> None:
    out = cli("graph", SPEC)
    assert out.returncode == 0, out.stderr
    assert "pipeline 'backends': 3 flows, 2 connections" in out.stdout
    assert "counter -> scale: value->value (latest, q=2)" in out.stdout
    mmd = tmp_path / "g.mmd"
    assert cli("graph", SPEC, "-o", str(mmd)).returncode == 0
    text = mmd.read_text()
    assert text.startswith("flowchart LR") and 'n_counter -- "value" --> n_scale' in text
    dot = cli("graph", SPEC, "--format", "dot").stdout
    assert dot.startswith('digraph "backends"') and '"scale" -> "printer"' in dot


def test_graph_of_a_registered_module_path_and_bad_specs() -> None:
    out = cli("graph", "retriever.demo.run_perception:build", "--format", "mermaid")
    assert out.returncode == 0 and "n_camera" in out.stdout
    bad = cli("graph", "no/such/file.py:build")
    assert bad.returncode == 1 and "no such file" in bad.stderr


def test_run_shows_progress_and_a_summary() -> None:
    out = cli("run", SPEC, "--backend", "in-process", "--duration", "1.2", "--interval", "0.4")
    assert out.returncode == 0, out.stderr
    assert "elapsed" in out.stdout and "steps/s" in out.stdout
    assert "summary:" in out.stdout and "backend=in-process" in out.stdout


def test_run_on_multiprocessing_reports_a_flow_error(tmp_path: Path) -> None:
    script = tmp_path / "bad_pipe.py"
    script.write_text(
        "from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io\n"
        "@io\nclass N:\n    v: int\n"
        "class S(Flow[None, N]):\n    def step(self, _: None) -> N:\n        return N(v=1)\n"
        "class Bad(Flow[N, None]):\n    def step(self, input: N) -> None:\n"
        "        raise RuntimeError('bad sink')\n"
        "def build() -> Pipeline:\n    p = Pipeline('bad')\n"
        "    p.connect(S() @ Rate(hz=20), Bad() @ Trigger('v'), sync=Latest())\n    return p\n")
    out = cli("run", f"{script}:build", "--duration", "5", cwd=tmp_path)
    assert out.returncode == 1
    assert "flow 'bad' failed" in out.stderr and "bad sink" in out.stderr
