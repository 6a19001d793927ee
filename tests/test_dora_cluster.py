"""dora across machines (two daemons on this host), Ctrl-C, and the export command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from retriever.cli.main import main as cli_main
from retriever.rt.backends.dora.compat import check_install

from . import dora_flows as F

pytestmark = pytest.mark.skipif(not F.dora_installed(),
                                reason="dora-rs / dora-rs-cli / pyarrow not installed")
ROOT = Path(__file__).resolve().parents[1]


def test_placement_runs_each_node_on_its_daemon(tmp_path: Path) -> None:
    out = tmp_path / "placed.json"
    pipe = F.basic(str(out), machines=("A", "B"))
    handle = pipe.run(backend="dora", duration=1.0, blocking=False, echo=False)
    assert handle.mode == "cluster"
    launcher = handle.launcher
    try:
        report = handle.wait(120)
    finally:
        if handle.running:
            handle.stop()
    assert report is not None and report.flows["recorder"].steps >= 1
    # Each node reports the daemon that spawned it (machine id and parent pid).
    info = handle.node_info
    assert info["counter"]["machine"] == "A" and info["recorder"]["machine"] == "B"
    daemon_pids = {p.pid for p in launcher.services[1:]}
    assert {info["counter"]["ppid"], info["recorder"]["ppid"]} <= daemon_pids
    assert info["counter"]["ppid"] != info["recorder"]["ppid"]
    data = json.loads(out.read_text())
    assert data["machine"] == "B" and data["seen"] == list(range(len(data["seen"])))
    # Coordinator, daemons and nodes are gone.
    assert all(p.poll() is not None for p in launcher.services)
    F.assert_clean(handle)


def test_ctrl_c_stops_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "sigint.json"
    script = tmp_path / "child.py"
    # Python's own SIGINT handler even if the test runner was started with SIGINT ignored
    script.write_text(textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(ROOT)!r})
        from tests import dora_flows as F
        F.basic({str(out)!r}).run(backend="dora", echo=False)
    """))
    before = set(Path(tempfile.gettempdir()).glob("retriever-dora-*"))
    child = subprocess.Popen([sys.executable, str(script)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        runners: list[tuple[int, str]] = []
        while time.monotonic() < deadline and len(runners) < 2:
            time.sleep(0.2)
            runners = [p for p in F.cmdlines_mentioning("retriever.rt.backends.dora.runner")
                       if p[0] in F.processes_owned_by(child.pid)]
        assert len(runners) == 2, child.stdout.read() if child.poll() is not None else ""
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in output
    assert F.processes_owned_by(child.pid) == []
    assert json.loads(out.read_text())["seen"] is not None  # flows were finalized
    assert set(Path(tempfile.gettempdir()).glob("retriever-dora-*")) - before == set()


def test_export_writes_a_dataflow_dora_accepts(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "dataflow.yml"
    spec = f"{ROOT / 'tests' / 'dora_flows.py'}:export_me"
    assert cli_main(["dora", "export", spec, "-o", str(target)]) == 0
    assert "dora run" in capsys.readouterr().out
    text = target.read_text()
    assert "retriever.rt.backends.dora.runner" in text and "dora/timer/millis/50" in text
    cli = check_install().cli
    res = subprocess.run([cli, "validate", str(target)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK" in res.stdout


def test_export_with_placement_has_deploy_keys(tmp_path: Path) -> None:
    flows = tmp_path / "placed_flows.py"
    flows.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests import dora_flows as F
        pipe = F.basic("/tmp/unused.json", machines=("robot", "server"))
    """))
    target = tmp_path / "placed.yml"
    assert cli_main(["dora", "export", f"{flows}:pipe", "-o", str(target)]) == 0
    text = target.read_text()
    assert 'machine: "robot"' in text and 'machine: "server"' in text
    res = subprocess.run([check_install().cli, "validate", str(target)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_exported_dataflow_runs_with_dora_run_from_another_directory(tmp_path: Path) -> None:
    out = tmp_path / "exported.json"
    source = tmp_path / "src" / "my_pipeline.py"  # an uninstalled module, like examples/
    source.parent.mkdir()
    source.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests import dora_flows as F

        def build():
            return F.basic({str(out)!r})
    """))
    target = tmp_path / "deploy" / "dataflow.yml"
    assert cli_main(["dora", "export", f"{source}:build", "-o", str(target)]) == 0
    text = target.read_text()
    assert 'path: "python3"' in text and sys.executable not in text
    assert 'build: "pip install pyretriever[dora]' in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("PYTHONPATH:"))
    entries = json.loads(line.split(":", 1)[1]).split(os.pathsep)
    assert entries and not [e for e in entries if os.path.isabs(e)]  # relative to the file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cli = check_install().cli
    res = subprocess.run([cli, "validate", str(target)], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([cli, "run", str(target), "--stop-after", "2s"], cwd=elsewhere,
                         env=env, capture_output=True, text=True, timeout=90, check=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    seen = json.loads(out.read_text())["seen"]
    assert len(seen) >= 5 and seen == list(range(len(seen)))
