"""Step observers named in the run's environment are loaded by every backend worker and
see every execution (this is how live viewing reaches all workers of a run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from retriever.contract.errors import ConfigError
from retriever.flow import Latest, Pipeline, Rate, Trigger
from retriever.rt.observe import ENV, observers_from_env

from .core_flows import AddOne, Source

BACKENDS = ["multiprocessing", "dora"]


def _pipe() -> Pipeline:
    pipe = Pipeline("observed")
    src = Source() @ Rate(hz=20)
    add = AddOne() @ Trigger("value")
    pipe.connect(src, add, sync=Latest())
    return pipe


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_worker_reports_to_the_env_observer(backend: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "dora":
        pytest.importorskip("dora")
        root = Path(__file__).resolve().parent.parent
        monkeypatch.setenv("PYTHONPATH", str(root))
    out = tmp_path / "obs.jsonl"
    monkeypatch.setenv("OBS_OUT", str(out))
    monkeypatch.setenv(ENV, "tests.observe_support:factory")
    report = _pipe().run(backend=backend, duration=1.0)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    steps = [x for x in lines if "flow" in x]
    flows = {x["flow"] for x in steps}
    assert flows == {"source", "add_one"}
    pids = {x["flow"]: x["pid"] for x in steps}
    assert pids["source"] != pids["add_one"] != os.getpid()  # one process per partition
    assert sum(1 for x in steps if x["flow"] == "source") == report.flows["source"].steps
    assert len([x for x in lines if x.get("closed")]) == 2


def test_a_bad_observer_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "no_such_module_xyz:factory")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        observers_from_env()
