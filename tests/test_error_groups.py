"""A second error is never dropped: closing recordings and recorded runs report every
failure (one as itself, several as an ExceptionGroup)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.contract.errors import ErrorCollector, FlowError
from retriever.flow import Latest, Pipeline, Rate
from retriever.record import OffloadRecorder, RecordConfig, RecordingError, mcap_io
from retriever.record.recorder import Recorder
from retriever.rt.facade import stepper_for

from .core_flows import Boom, Source


def _boom_pipeline() -> Pipeline:
    pipe = Pipeline("boom")
    pipe.connect(Source() @ Rate(hz=10), Boom() @ Rate(hz=10), sync=Latest())
    return pipe


def _failing_close(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mcap_io.McapWriter.close

    def close(self: Any) -> None:
        real(self)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(mcap_io.McapWriter, "close", close)


def test_collector_raises_one_error_as_itself_and_several_as_a_group() -> None:
    errors = ErrorCollector()
    errors.raise_all("nothing")
    with errors.step():
        raise ValueError("one")
    with pytest.raises(ValueError, match="one"):
        errors.raise_all("x")
    with errors.step():
        raise KeyError("two")
    with pytest.raises(ExceptionGroup) as info:
        errors.raise_all("cleaning up")
    assert [type(e) for e in info.value.exceptions] == [ValueError, KeyError]
    errors.add(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as ki:
        errors.raise_all("x")
    assert any("one" in n for n in ki.value.__notes__)


def test_every_file_of_a_recording_is_closed_and_every_failure_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ir = stepper_for(_boom_pipeline()).ir
    rec = Recorder(ir, RecordConfig(path=tmp_path / "a.mcap", mirrors=(tmp_path / "b.mcap",),
                                    writer="inline"))
    _failing_close(monkeypatch)
    with pytest.raises(ExceptionGroup) as info:
        rec.close()
    assert len(info.value.exceptions) == 2
    assert all(isinstance(e, OSError) for e in info.value.exceptions)


def test_record_reports_the_flow_error_and_the_file_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_close(monkeypatch)
    pipe = _boom_pipeline()
    with pytest.raises(ExceptionGroup) as info:
        pipe.record(RecordConfig(path=tmp_path / "r.mcap", writer="inline"), steps=4)
    kinds = {type(e) for e in info.value.exceptions}
    assert kinds == {FlowError, OSError}


def test_recorded_run_reports_the_flow_error_and_the_file_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_close(monkeypatch)
    pipe = _boom_pipeline()
    with pytest.raises(ExceptionGroup) as info:
        pipe.run(backend="in-process", duration=1.0,
                 record=RecordConfig(path=tmp_path / "run.mcap", writer="inline"))
    kinds = {type(e) for e in info.value.exceptions}
    assert kinds == {FlowError, OSError}


class _BrokenView:
    """A live view whose connection fails when it is closed."""

    def begin_step(self, step: int, now: float) -> None:
        pass

    def write(self, topic: str, value: Any) -> None:
        pass

    def end_step(self) -> None:
        pass

    def close(self) -> None:
        raise ConnectionResetError("viewer went away")


def test_offload_writer_reports_its_error_and_the_live_view_error(tmp_path: Path) -> None:
    pipe = _boom_pipeline()
    stepper = stepper_for(pipe)
    rec = OffloadRecorder(stepper.ir, RecordConfig(path=tmp_path / "w.mcap"),
                          live=_BrokenView())
    stepper.observers.append(rec)
    try:
        stepper.step(dt=0.1)
        os.kill(rec._pid, signal.SIGKILL)  # the writer dies: its files are unfinished
        with pytest.raises(ExceptionGroup) as info:
            rec.close()
    finally:
        stepper.observers.remove(rec)
        pipe.close_stepper()
    kinds = {type(e) for e in info.value.exceptions}
    assert kinds == {ConnectionResetError, RecordingError}
