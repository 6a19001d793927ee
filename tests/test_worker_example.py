"""The example component in examples/worker_component runs locally and in a pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_module(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout


def test_example_worker_runs_locally() -> None:
    assert _run_module("examples.worker_component.worker").strip() == (
        "[(2.0, 'v=1.0'), (4.0, 'v=2.0'), (6.0, 'v=3.0')]")


@pytest.mark.parametrize("backend", ["in-process", "multiprocessing"])
def test_example_pipeline_runs(backend: str) -> None:
    out = _run_module("examples.worker_component.pipeline", "--backend", backend,
                      "--duration", "1.0")
    lines = [ln for ln in out.splitlines() if "->" in ln]
    assert lines and lines[0] == "v=1.0 -> 3.0"  # factor 3.0 from the pipeline's config
    assert "error=None" in out
