"""Every example runs as a module (short durations) and prints what it promises."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
T = "examples.tutorial."

CASES: list[tuple[str, list[str], str]] = [
    (T + "a_flow_fundamentals.01_envelopes", [], "has frame? False"),
    (T + "a_flow_fundamentals.02_flow_and_clocks", [], "tick     saw value=None"),
    (T + "a_flow_fundamentals.03_connect_and_sync", [], "speed -> velocity: latest qsize=2"),
    (T + "a_flow_fundamentals.04_with_pipe_and_rshift", [], "show: 3.0"),
    (T + "a_flow_fundamentals.05_pipeline_ergonomics", ["--mode", "context"], "add_one -> 2"),
    (T + "a_flow_fundamentals.05_pipeline_ergonomics", ["--mode", "context", "--exec", "step"],
     "add_one -> 2"),
    (T + "a_flow_fundamentals.05_pipeline_ergonomics",
     ["--mode", "default", "--exec", "run", "--duration", "0.3"], "backend=in-process"),
    (T + "b_ir_and_execution.01_validate_and_ir", [], "reloaded equal: True"),
    (T + "b_ir_and_execution.02_run_backends", ["--duration", "0.4"], "non-blocking run"),
    (T + "b_ir_and_execution.07_request_response", [], "request 3 x=3.0 -> y=9.0"),
    (T + "b_ir_and_execution.08_detection_window_stats", [], "over 10 detections"),
    (T + "c_debug_and_replay.01_debug_stepper", [], "caught FlowError for flow 'divide'"),
    (T + "c_debug_and_replay.02_debug_perception_stepper", ["--steps", "3"], "found=True"),
    (T + "c_debug_and_replay.03_debug_perception_stepper_real_camera",
     ["--camera-mode", "mock", "--steps", "2"], "red object"),
    (T + "c_debug_and_replay.04_record_replay_perception",
     ["--steps", "6", "--path", "{tmp}/rec.rrd"],
     "match the recorded ones: True"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env", ["--duration", "0.5"],
     "on_lag=warn"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--duration", "1", "--slow", "--on-lag", "panic"], "run stopped by flow 'mpc'"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--env", "pendulum", "--backend", "multiprocessing", "--hz", "10", "--duration", "1"],
     "env=pendulum on_lag=warn"),
    # The handbook's dora quick checks (section 8) and the pendulum line of 9.4, shorter.
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--env", "toy", "--backend", "dora", "--hz", "50", "--duration", "1", "--on-lag",
      "warn"], "env=toy on_lag=warn"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--env", "toy", "--backend", "dora", "--hz", "50", "--duration", "1", "--on-lag",
      "panic"], "env=toy on_lag=panic"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--env", "pendulum", "--backend", "dora", "--hz", "10", "--duration", "1"],
     "env=pendulum on_lag=warn"),
    (T + "d_closed_loop_state_feedback.01_closed_loop_env",
     ["--env", "toy", "--backend", "multiprocessing", "--hz", "10", "--duration", "1"],
     "env=toy on_lag=warn"),
    (T + "d_closed_loop_state_feedback.07_feedback_intro", [], "room at 21.0 C"),
    (T + "d_closed_loop_state_feedback.07_feedback_intro",
     ["--exec", "run", "--duration", "0.4"], "thermostat"),
    (T + "d_closed_loop_state_feedback.08_event_driven_replan", [], "replanning to 6.0"),
    (T + "d_closed_loop_state_feedback.09_execution_monitoring", [], "ALARM"),
    (T + "e_typing_contract.01_composite_aliasing", [], "left=1 right=2"),
]


@pytest.mark.parametrize(("module", "args", "expect"), CASES,
                         ids=[f"{m.split('.', 2)[-1]}{' ' + ' '.join(a) if a else ''}"
                              for m, a, _ in CASES])
def test_example_runs(module: str, args: list[str], expect: str, tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout, out.stdout[-3000:]


@pytest.mark.parametrize("backend", ["multiprocessing", "in-process", "dora"])
def test_demo_prints_detections_on_every_backend(backend: str) -> None:
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "demo", "--camera-mode",
                          "mock", "--duration", "2", "--backend", backend],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "red object at" in out.stdout and "summary:" in out.stdout
    assert f"backend={backend}" in out.stdout


def test_demo_records_and_the_printed_replay_command_works(tmp_path: Path) -> None:
    rec = tmp_path / "logs" / "perception.rrd"
    # No --camera-mode: recording uses deterministic mock frames by default.
    out = subprocess.run([sys.executable, "-m", "retriever.cli.main", "demo",
                          "--duration", "1", "--record", str(rec)],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "camera=mock" in out.stdout
    assert rec.is_file() and rec.with_suffix(".mcap").is_file()
    # the OpenCV-style frames stay BGR in both files: the red disc is (B, G, R) = (0, 0, 220)
    from retriever.record import open_recording
    from retriever.types.vision import Image

    for path in (rec, rec.with_suffix(".mcap")):
        _, _, first = open_recording(path).messages("camera", types={"image": Image})[0]
        image = first["image"]
        assert isinstance(image, Image) and image.encoding == "bgr8"
        disc = image.data[image.data[..., 2] == 220]
        assert len(disc) > 100 and (disc == (0, 0, 220)).all()
    line = next(x for x in out.stdout.splitlines() if x.startswith("replay with: "))
    cmd = line.removeprefix("replay with: retriever ").split()
    replay = subprocess.run([sys.executable, "-m", "retriever.cli.main", *cmd, "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert "camera: 30/30" in replay.stdout


def test_pendulum_without_gymnasium_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(T + "d_closed_loop_state_feedback.01_closed_loop_env")
    monkeypatch.setattr(module, "gymnasium_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--env", "pendulum", "--duration", "0.1"])
    assert exit_.value.code == 2
    assert "needs gymnasium, which is not installed: pip install 'pyretriever[gym]'" in (
        capsys.readouterr().err)
