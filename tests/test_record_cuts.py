"""Cut-off recordings: a cut in the .rrd footer loses nothing, replay says what a cut
lost and never publishes torn steps, and a closed pipe ends the CLI quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from retriever.cli.main import main
from retriever.ir.model import ClockIR, NodeIR, PortIR, SideIR
from retriever.record import RecordConfig, TruncatedRecordingWarning, open_recording
from retriever.record.model import Channel, Recording, Sample
from retriever.record.replay import source_for
from retriever.record.rrd import _FRAME, _STREAM_HEADER

from .test_record_support import SyntheticCamera, perception

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cuts")
    pipe, _ = perception(SyntheticCamera(height=24, width=32))
    pipe.record(RecordConfig(path=tmp / "full.rrd", mirrors=(tmp / "full.mcap",)), steps=6,
                dt=0.1)
    factory = tmp / "pipes.py"
    factory.write_text("from tests.test_record_support import SyntheticCamera, perception\n\n"
                       "def make():\n"
                       "    return perception(SyntheticCamera(height=24, width=32))[0]\n")
    return {"rrd": tmp / "full.rrd", "mcap": tmp / "full.mcap", "factory": factory}


def _end_frame(data: bytes) -> int:
    offset = _STREAM_HEADER
    while True:
        kind, length = _FRAME.unpack(data[offset:offset + _FRAME.size])
        if kind == 0:
            return offset
        offset += _FRAME.size + length


def test_a_cut_inside_the_rrd_end_frame_keeps_every_data_frame(files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    data = files["rrd"].read_bytes()
    total = open_recording(files["rrd"]).message_count
    start = _end_frame(data)
    step = max(1, (len(data) - start) // 25)
    cuts = sorted({*range(start, len(data), step), start + _FRAME.size,
                   start + _FRAME.size + 1, len(data) - 1})
    for cut in cuts:
        part = tmp_path / "cut.rrd"
        part.write_bytes(data[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedRecordingWarning)
            rec = open_recording(part)
        assert rec.message_count == total, cut


def _recording(samples: dict[str, list[int]], truncated: bool) -> Recording:
    channels = {}
    stored = {}
    for port, steps in samples.items():
        topic = f"/flows/cam/out/{port}"
        channels[topic] = Channel(topic, "cam", "out", port, "int")
        stored[topic] = [Sample(s, s * 0.1, s) for s in steps]
    return Recording(Path("x.mcap"), "mcap", {"flows": ["cam"]}, channels, stored,
                     decoder=lambda payload, _tp: payload, truncated=truncated)


def _source(rec: Recording) -> Any:
    node = NodeIR(id="cam", flow="x:Cam", clock=ClockIR(kind="tick"),
                  inputs=SideIR(elements=[]), outputs=SideIR(elements=[]),
                  output_ports=[PortIR(name=n, alias="", field=n, type="int")
                                for n in ("a", "b")])
    return source_for(rec, node)


def test_replay_of_a_cut_recording_drops_torn_steps_and_says_so() -> None:
    rec = _recording({"a": [0, 1, 2, 3, 4], "b": [0, 1, 2]}, truncated=True)
    with pytest.warns(TruncatedRecordingWarning, match=r"cam\.b ends at step 2 of 4"):
        src = _source(rec)
    assert len(src) == 3 and [src(0.0, i) for i in range(3)] == [
        {"a": i, "b": i} for i in range(3)]
    assert any("2 steps of 'cam' after step 2" in note for note in src.lost)


def test_replay_of_a_port_cut_out_entirely_publishes_nothing_torn() -> None:
    rec = _recording({"a": [0, 1, 2], "b": []}, truncated=True)
    with pytest.warns(TruncatedRecordingWarning, match="cam.b has no samples"):
        src = _source(rec)
    assert len(src) == 0 and src(0.0, 0) is None


def test_a_whole_recording_is_replayed_as_it_is() -> None:
    rec = _recording({"a": [0, 1, 2, 3], "b": [0, 2]}, truncated=False)
    src = _source(rec)
    assert len(src) == 4 and not src.lost


def test_cli_replay_of_a_cut_recording_reports_the_cut(files: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    data = files["mcap"].read_bytes()
    part = tmp_path / "cut.mcap"
    part.write_bytes(data[:int(len(data) * 0.6)])
    assert main(["replay", f"{files['factory']}:make", str(part), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "warning:" in err and "cut off mid-write" in err
    assert "the recording was cut off mid-write" in out.splitlines()[-1]


def test_a_closed_pipe_ends_the_cli_quietly(files: dict[str, Path]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "retriever.cli.main", "inspect",
                               "--json", "--schemas", str(files["mcap"])],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=60)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
    assert proc.returncode == 141
