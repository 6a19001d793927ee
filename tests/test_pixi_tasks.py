"""pixi.toml: the handbook's tasks exist and every one runs (pixi itself is not needed).

Each task's command runs in this test's interpreter, as printed, except that a live
camera becomes the mock one (CI has no camera) and durations are short. Dora tasks run
a real dora dataflow.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TASKS: dict[str, object] = tomllib.loads((ROOT / "pixi.toml").read_text())["tasks"]

#: Every task the handbook names, and what its output must show.
HANDBOOK_TASKS = {
    "demo-webcam-detection": "red object",
    "demo-webcam-detection-mp-rerun": "backend=multiprocessing",
    "demo-webcam-detection-dora": "backend=dora",
    "demo-webcam-detection-dora-rerun": "backend=dora",
    "demo-basic-flow": "saw value=",
    "demo-rt-execution": "non-blocking run",
    "demo-stepper": "caught FlowError for flow 'divide'",
    "demo-webcam-record": "recorded 30 steps (mock camera)",
    "demo-webcam-replay-rrd": "match the recorded ones: True",
    "demo-webcam-replay-mcap": "match the recorded ones: True",
}
#: Record first: the replay tasks read what it wrote.
ORDER = sorted(HANDBOOK_TASKS, key=lambda t: (not t.startswith("demo-webcam-record"),
                                              t.startswith("demo-webcam-replay"), t))


def command(task: str) -> list[str]:
    """The task's command for this interpreter, camera mocked and durations short."""
    spec = TASKS[task]
    text = spec["cmd"] if isinstance(spec, dict) else spec
    assert isinstance(text, str)
    argv = shlex.split(text)
    assert argv[0] == "python", f"{task}: tasks start with python (-m ...)"
    argv[0] = sys.executable
    for i, arg in enumerate(argv[:-1]):
        if arg == "--camera-mode" and argv[i + 1] == "live":
            argv[i + 1] = "mock"
        if arg == "--duration":
            argv[i + 1] = "1.5" if "--backend" in argv else "0.3"
    return argv


def test_pixi_declares_every_handbook_task() -> None:
    assert set(TASKS) == set(HANDBOOK_TASKS)
    project = tomllib.loads((ROOT / "pixi.toml").read_text())
    extras = project["pypi-dependencies"]["pyretriever"]["extras"]
    assert set(extras) == {"demo", "dora"}  # the handbook's `pip install -e ".[demo,dora]"`


def test_webcam_tasks_ask_for_a_live_camera_and_record_mocks() -> None:
    for task in TASKS:
        text = shlex.split(str(TASKS[task]["cmd"]))  # type: ignore[index]
        if task.startswith("demo-webcam-detection"):
            assert text[text.index("--camera-mode") + 1] == "live", task
    record = shlex.split(str(TASKS["demo-webcam-record"]["cmd"]))  # type: ignore[index]
    assert record[record.index("--camera-mode") + 1] == "mock"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pixi")


@pytest.mark.parametrize("task", ORDER)
def test_task_runs(task: str, workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(command(task), cwd=workdir, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, f"{task}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert HANDBOOK_TASKS[task] in out.stdout, out.stdout[-3000:]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _expand(extras: dict[str, list[str]], extra: str) -> set[str]:
    names: set[str] = set()
    for req in extras[extra]:
        if req.startswith("pyretriever["):
            for inner in req[len("pyretriever["):-1].split(","):
                names |= _expand(extras, inner.strip())
        else:
            names.add(_name(req))
    return names


def test_demo_extra_and_lock_are_consistent() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    # `pip install -e ".[demo,dora]"` (the handbook's uv line) gets the webcam demo's
    # OpenCV, the recorders and gymnasium for the pendulum environment.
    assert {"opencv-python-headless", "rerun-sdk", "mcap", "gymnasium"} <= _expand(
        extras, "demo")
    assert _expand(extras, "demo") <= _expand(extras, "all")
    pinned = {_name(line) for line in (ROOT / "requirements.lock").read_text().splitlines()
              if line and not line.startswith("#")}
    wanted = {_name(r) for r in project["dependencies"]} | _expand(extras, "all") | _expand(
        extras, "test")
    assert wanted <= pinned, f"not pinned in requirements.lock: {sorted(wanted - pinned)}"
