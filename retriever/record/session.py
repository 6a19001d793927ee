"""``pipe.record`` and recorded / visualised in-process runs (``pipe.run(record=...)``)."""

from __future__ import annotations

import threading
from typing import Any

from retriever.contract.errors import ErrorCollector
from retriever.flow.pipeline import Pipeline
from retriever.ir.lower import lower
from retriever.rt.execute import execute_ir
from retriever.rt.facade import close_stepper, live_flows, stepper_for
from retriever.rt.handle import BackgroundRun
from retriever.rt.options import count, seconds
from retriever.rt.report import RunReport

from .config import RecordConfig
from .live import live_for
from .offload import OffloadRecorder, open_recorder
from .recorder import Recorder, RecordResult


def record(pipe: Pipeline, config: Any, *, steps: int, dt: float = 0.1,
           visualize: Any = None) -> RecordResult:
    """``Pipeline.record``: step ``steps`` times at simulation speed, recording each step.

    Uses the pipeline's open stepper (continuing it) or a fresh one, which is closed
    (flows finalized) at the end. Active replays apply, so a replayed run can be
    recorded again.
    """
    count(steps, "steps", where="Pipeline.record", minimum=0)
    seconds(dt, "dt", where="Pipeline.record", zero=False)
    cfg = RecordConfig.coerce(config)
    was_open = pipe.runtime_session is not None and not pipe.runtime_session.closed
    stepper = stepper_for(pipe)
    try:
        recorder = open_recorder(stepper.ir, cfg, live=live_for(visualize))
    except BaseException as exc:
        errors = ErrorCollector([exc])
        if not was_open:
            with errors.step():
                close_stepper(pipe)
        errors.raise_all("starting the recording failed")
        raise
    stepper.observers.append(recorder)
    last = None
    # A failing step, a failing file and a failing flow finalize are all reported.
    errors = ErrorCollector()
    with errors.step():
        for _ in range(steps):
            last = stepper.step(dt=dt)
    stepper.observers.remove(recorder)
    with errors.step():
        recorder.close()
    if not was_open:
        with errors.step():
            close_stepper(pipe)
    errors.raise_all(f"recording {cfg.paths[0]} failed")
    return RecordResult(paths=cfg.paths, steps=recorder.steps, values=recorder.values,
                        last=last)


class RecordingRun(BackgroundRun):
    """A recorded in-process run; ends after ``wall_limit`` seconds of wall-clock time.

    Implements the run-handle protocol (``running``, ``report``, ``wait``, ``stop``,
    ``stats``). The files are complete once the run has ended (``running`` stays True
    until they are).
    """

    def __init__(self, handle: Any, recorder: Recorder | OffloadRecorder,
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
        errors = ErrorCollector()
        try:
            with errors.step():
                report = self._handle.wait(limit)
                if report is None:
                    report = self._handle.stop()
                self._report = report
        finally:
            with errors.step():
                self.recorder.close()
            # The run's error and the files' errors are both reported, never one alone.
            try:
                errors.raise_all("the recorded run failed")
            except BaseException as exc:
                self._error = exc
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
        errors = ErrorCollector()
        if not self._done.is_set():
            with errors.step():
                self._handle.stop()
        self._done.wait()
        if self._error is not None:
            errors.add(self._error)
        errors.raise_all("the recorded run failed")
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
    live = live_for(visualize)
    realtime = options.pop("realtime", cfg is None)
    if cfg is None and live is None:
        return execute_ir(ir, "in-process", duration=duration, blocking=blocking,
                          live=live_flows(pipe), realtime=realtime, **options)
    recorder = open_recorder(ir, cfg, live=live)
    try:
        handle = execute_ir(ir, "in-process", duration=duration, blocking=False,
                            live=live_flows(pipe), realtime=realtime,
                            observers=[recorder], **options)
    except BaseException as exc:
        errors = ErrorCollector([exc])
        with errors.step():
            recorder.close()
        errors.raise_all("starting the recorded run failed")
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
