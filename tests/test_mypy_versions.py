"""The plugin's golden-file and parity tests under a second supported mypy minor
version (the suite's own mypy is the newest; 1.11 is the oldest we support).

The older mypy is installed with pip into a temporary directory placed first on
PYTHONPATH, then the plugin tests run in a subprocess that imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLDEST = "mypy==1.11.2"


@pytest.mark.timeout(600)
def test_plugin_tests_pass_on_the_oldest_supported_mypy(tmp_path: Path) -> None:
    target = tmp_path / "mypy-old"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--target", str(target), OLDEST, "typing_extensions>=4.6", "mypy_extensions>=1.0"],
        capture_output=True, text=True, timeout=500)
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    version = subprocess.run(
        [sys.executable, "-c", "import mypy.version as v; print(v.__version__)"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert version.strip() == OLDEST.split("==")[1]
    # Two processes side by side, every test in exactly one of them: each mypy run is
    # single-threaded and CPU-bound, so on two cores this about halves the wait (the
    # cache test moves to the parity half to even out their lengths).
    cached = "tests/test_mypy_plugin.py::test_cached_second_run_reports_the_same"
    halves = [["tests/test_mypy_plugin.py", "--deselect", cached],
              ["tests/test_parity.py", cached]]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *half],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for half in halves]
    try:
        outs = [p.communicate(timeout=500)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-5000:]
        assert " passed" in out
