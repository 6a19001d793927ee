"""Recorded and visualised runs, live viewing without a viewer, and the CLI tools."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import retriever  # noqa: F401
from retriever.cli.main import main
from retriever.contract.errors import ConfigError, MissingDependencyError
from retriever.record import (
    RecordConfig,
    RecordingRun,
    deps,
    init_live,
    init_live_from_env,
    live_env,
    new_recording_id,
    open_recording,
    record,
)
from retriever.record import live as live_mod

from .test_record_support import perception

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_viewer(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"rerun+http://127.0.0.1:{_free_port()}/proxy"
    monkeypatch.setenv(live_mod.ENV_URL, url)
    return url


def test_run_in_process_records_at_simulation_speed(tmp_path: Path) -> None:
    pipe, nodes = perception()
    cfg = RecordConfig(path=tmp_path / "run.rrd", mirrors=(tmp_path / "run.mcap",))
    report = pipe.run(backend="in-process", duration=1.0, record=cfg, dt=0.05)
    assert report.flows["camera"].steps > 0
    for path in cfg.paths:
        rec = open_recording(path)
        count = rec.channels["/flows/camera/out/image"].count
        assert count == report.flows["camera"].steps
        assert rec.time_span is not None and rec.time_span[1] <= 1.0 + 1e-9


def test_run_in_process_non_blocking_handle(tmp_path: Path) -> None:
    pipe, _ = perception()
    handle = pipe.run(backend="in-process", record=tmp_path / "h.mcap", blocking=False)
    assert isinstance(handle, RecordingRun)
    deadline = time.monotonic() + 30
    while handle.report.flows.get("camera") is None or handle.report.flows["camera"].steps < 5:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    report = handle.stop()
    assert not handle.running and report.flows["camera"].steps >= 5
    assert open_recording(tmp_path / "h.mcap").channels["/flows/camera/out/image"].count >= 5


@pytest.mark.parametrize("backend", ["multiprocessing", "dora", "mp"])
def test_run_record_on_other_backends_names_the_fix(tmp_path: Path, backend: str) -> None:
    pipe, _ = perception()
    with pytest.raises(ConfigError) as info:
        pipe.run(backend=backend, duration=0.1, record=tmp_path / "x.rrd")
    assert "in-process" in info.value.hint and "pipe.record" in info.value.hint
    assert not (tmp_path / "x.rrd").exists()


def test_visualize_without_a_viewer_neither_hangs_nor_fails(no_viewer: str,
                                                            tmp_path: Path) -> None:
    pipe, _ = perception()
    t0 = time.monotonic()
    report = pipe.run(backend="in-process", duration=0.3, visualize="auto")
    assert report.flows["camera"].steps > 0
    with pytest.warns(RuntimeWarning, match="no Rerun viewer"):
        record(pipe, tmp_path / "v.rrd", steps=3, dt=0.1, visualize="rerun")
    with pytest.warns(RuntimeWarning, match="no Rerun viewer"):
        pipe.run(backend="in-process", duration=0.2, visualize="rerun",
                 record=tmp_path / "v2.rrd")
    assert time.monotonic() - t0 < 30
    with pytest.raises(ConfigError):
        pipe.run(backend="in-process", duration=0.1, visualize="matplotlib")


def test_a_port_held_by_something_else_is_not_a_viewer() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        conns: list[socket.socket] = []
        threading.Thread(target=lambda: conns.append(srv.accept()[0]), daemon=True).start()
        t0 = time.monotonic()
        assert init_live(new_recording_id(), url=f"rerun+http://127.0.0.1:{port}/proxy",
                         timeout=0.2) is None
        assert time.monotonic() - t0 < 5
        for c in conns:
            c.close()


@pytest.fixture
def rerun_server() -> Iterator[str]:
    exe = shutil.which("rerun", path=str(Path(sys.executable).parent))
    assert exe is not None, "rerun-sdk ships the rerun executable"
    port = _free_port()
    # Its own session: `rerun` is a launcher that starts the real server as a child, so
    # the whole process group is stopped afterwards (otherwise the server outlives us).
    proc = subprocess.Popen([exe, "--serve-grpc", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RERUN_ANALYTICS": "false"},
                            start_new_session=True)
    url = f"rerun+http://127.0.0.1:{port}/proxy"
    try:
        deadline = time.monotonic() + 60
        while not live_mod.viewer_reachable(url, timeout=0.5):
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_live_streaming_to_a_real_rerun_server(rerun_server: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(live_mod.ENV_URL, rerun_server)
    pipe, _ = perception()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no viewer" / "data dropped" warnings
        report = pipe.run(backend="in-process", duration=0.3, visualize="rerun",
                          record=tmp_path / "both.rrd")
    assert report.flows["camera"].steps > 0
    # the way backend workers join one shared recording
    rid = new_recording_id()
    for key, value in live_env(rid, "retriever-test", rerun_server).items():
        monkeypatch.setenv(key, value)
    loggers = [init_live_from_env(), init_live_from_env()]
    for k, logger in enumerate(loggers):
        assert logger is not None
        assert logger.stream.get_recording_id() == rid
        logger.log_message(f"worker{k}", "out", {"x": k, "s": "hi"}, step=0, now=0.0)
        logger.close()


def test_live_env_without_id_and_missing_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(live_mod.ENV_RECORDING_ID, raising=False)
    assert init_live_from_env() is None
    monkeypatch.setattr(deps, "has_rerun", lambda: False)
    assert init_live(new_recording_id()) is None
    with pytest.raises(MissingDependencyError) as info:
        init_live(new_recording_id(), required=True)
    assert "pyretriever[record]" in info.value.hint


# ------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    pipe, _ = perception()
    pipe.record(RecordConfig(path=tmp / "c.rrd", mirrors=(tmp / "c.mcap",)), steps=4, dt=0.1)
    factory = tmp / "pipes.py"
    factory.write_text(
        "from tests.test_record_support import perception\n\n"
        "def make():\n    return perception()[0]\n\n"
        "def make_ir():\n    return perception()[0].validate()\n")
    return {"rrd": tmp / "c.rrd", "mcap": tmp / "c.mcap", "factory": factory}


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
def test_cli_inspect(recorded: dict[str, Path], fmt: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(recorded[fmt])]) == 0
    out = capsys.readouterr().out
    assert "/flows/camera/out/image" in out and "perception" in out and "0..3" in out
    assert ("jsonschema" in out) == (fmt == "mcap") and ("Image" in out) == (fmt == "rrd")
    assert main(["inspect", "--json", "--schemas", str(recorded[fmt])]) == 0
    assert '"topic": "/flows/tracker/out/hits"' in capsys.readouterr().out


def test_cli_inspect_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.rrd").write_bytes(b"nonsense")
    assert main(["inspect", str(tmp_path / "x.rrd")]) == 1
    assert "RET803" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["rrd", "mcap"])
@pytest.mark.parametrize("factory", ["make", "make_ir"])
def test_cli_replay_file_defined_pipeline(recorded: dict[str, Path], fmt: str, factory: str,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    spec = f"{recorded['factory']}:{factory}"
    out_file = tmp_path / "again.mcap"
    assert main(["replay", spec, str(recorded[fmt]), "--steps", "5",
                 "--record", str(out_file)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("step 0 t=0.000") and '"detector"' in lines[0]
    assert "camera: 4/4" in lines[-1] and "dt=0.1" in lines[-1]
    again = open_recording(out_file)
    orig = open_recording(recorded[fmt])
    assert [m[2]["count"] for m in again.messages("detector")] == [
        m[2]["count"] for m in orig.messages("detector")]
