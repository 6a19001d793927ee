"""``pipe.record`` and recorded / visualised in-process runs (``pipe.run(record=...)``)."""

from __future__ import annotations

import threading
from typing import Any

from retriever.flow.pipeline import Pipeline
from retriever.ir.lower import lower
from retriever.rt.execute import execute_ir
from retriever.rt.facade import close_stepper, live_flows, stepper_for
from retriever.rt.handle import BackgroundRun
from retriever.rt.report import RunReport

from .config import RecordConfig
from .live import LiveSession, live_for
from .offload import OffloadRecorder, open_recorder
from .recorder import Recorder, RecordResult


def record(pipe: Pipeline, config: Any, *, steps: int, dt: float = 0.1,
           visualize: Any = None) -> RecordResult:
    """``Pipeline.record``: step ``steps`` times at simulation speed, recording each step.

    Uses the pipeline's open stepper (continuing it) or a fresh one, which is closed
    (flows finalized) at the end. Active replays apply, so a replayed run can be
    recorded again.
    """
    cfg = RecordConfig.coerce(config)
    if steps < 0:
        raise ValueError("steps must be >= 0")
    was_open = pipe.runtime_session is not None and not pipe.runtime_session.closed
    stepper = stepper_for(pipe)
    try:
        live = live_for(visualize, ir=stepper.ir)
        recorder = open_recorder(stepper.ir, cfg, live=live)
    except BaseException:
        if not was_open:
            close_stepper(pipe)
        raise
    stepper.observers.append(recorder)
    last = None
    try:
        for _ in range(steps):
            last = stepper.step(dt=dt)
    finally:
        stepper.observers.remove(recorder)
        try:
            recorder.close()
        finally:
            if not was_open:
                close_stepper(pipe)
    return RecordResult(paths=cfg.paths, steps=recorder.steps, values=recorder.values,
                        last=last)


class RecordingRun(BackgroundRun):
    """A recorded in-process run; ends after ``wall_limit`` seconds of wall-clock time.

    Implements the run-handle protocol (``running``, ``report``, ``wait``, ``stop``,
    ``stats``). The files are complete once the run has ended (``running`` stays True
    until they are).
    """

    def __init__(self, handle: Any, recorder: Recorder | OffloadRecorder | LiveSession,
                 wall_limit: float | None) -> None:
        self._handle = handle
        self.recorder = recorder
        self._error: BaseException | None = None
        self._report: RunReport | None = None
        self._done = threading.Event()
        self._watch_thread = threading.Thread(target=self._watch, args=(wall_limit,),
                                              name="retriever-record", daemon=True)
        self._watch_thread.start()

    def _watch(self, limit: float | None) -> None:
        try:
            report = self._handle.wait(limit)
            if report is None:
                report = self._handle.stop()
            self._report = report
        except BaseException as exc:
            self._error = exc
        finally:
            try:
                self.recorder.close()
            except BaseException as exc:
                self._error = self._error or exc
            self._done.set()

    def _final_report(self) -> RunReport:
        return self.report

    @property
    def report(self) -> RunReport:
        """Counters so far."""
        return self._report or self._handle.report

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters."""
        return self._handle.stats()  # type: ignore[no-any-return]

    def stop(self) -> RunReport:
        """Stop the run, complete the files and return the report."""
        if not self._done.is_set():
            try:
                self._handle.stop()
            except BaseException as exc:
                self._error = self._error or exc
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self.report


def record_run(pipe: Pipeline, *, record: Any = None, duration: float | None = None,
               blocking: bool = True, visualize: Any = None, **options: Any) -> Any:
    """``pipe.run(backend="in-process", record=..., visualize=...)``.

    Recording steps at simulation speed (``realtime=False``): ``duration`` bounds the
    logical time recorded *and* the wall-clock time spent, whichever ends first. A
    visualised run without recording keeps real time.
    """
    cfg = RecordConfig.coerce(record) if record is not None else None
    ir = lower(pipe)
    live = live_for(visualize, ir=ir)
    realtime = options.pop("realtime", cfg is None)
    if cfg is None and live is None:
        return execute_ir(ir, "in-process", duration=duration, blocking=blocking,
                          live=live_flows(pipe), realtime=realtime, **options)
    recorder = open_recorder(ir, cfg, live=live)
    try:
        handle = execute_ir(ir, "in-process", duration=duration, blocking=False,
                            live=live_flows(pipe), realtime=realtime,
                            observers=[recorder], **options)
    except BaseException:
        recorder.close()
        raise
    run = RecordingRun(handle, recorder, duration if cfg is not None else None)
    if not blocking:
        return run
    try:
        report = run.wait(None)
    except KeyboardInterrupt:
        run.stop()
        raise
    return report


def attach_live(session: LiveSession, handle: Any) -> Any:
    """A handle for ``handle`` that stops ``session`` (the Foxglove server of a process
    backend run) when the run ends."""
    if session.hub is None:
        return handle
    return RecordingRun(handle, session, None)
