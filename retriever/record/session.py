"""``pipe.record`` and recorded / visualised in-process runs (``pipe.run(record=...)``)."""

from __future__ import annotations

import threading
from typing import Any

from retriever.contract.errors import ErrorCollector
from retriever.flow.pipeline import Pipeline
from retriever.flow.temporal import TemporalFlow
from retriever.ir.lower import lower
from retriever.rt.execute import execute_ir
from retriever.rt.facade import close_stepper, live_flows, open_stepper, stepper_for
from retriever.rt.handle import BackgroundRun
from retriever.rt.options import count, seconds
from retriever.rt.report import RunReport

from .config import RecordConfig
from .live import LiveSession, live_for, live_session, worker_env
from .offload import OffloadRecorder, open_recorder
from .recorder import Recorder, RecordResult
from .replay import ReplaySource, replay


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
    was_open = open_stepper(pipe) is not None
    stepper = stepper_for(pipe)
    try:
        recorder = open_recorder(stepper.ir, cfg, live=live_for(visualize, ir=stepper.ir),
                                 stepper=stepper)
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

    backend = "in-process"

    def __init__(self, handle: Any, recorder: Recorder | OffloadRecorder | LiveSession,
                 wall_limit: float | None) -> None:
        super().__init__()
        self._handle = handle
        self.recorder = recorder
        self._final: RunReport | None = None
        self._watch_thread = threading.Thread(target=self._watch, args=(wall_limit,),
                                              name="retriever-record", daemon=True)
        self._watch_thread.start()

    def _watch(self, limit: float | None) -> None:
        try:
            report = self._handle.wait(limit)
            if report is None:
                report = self._handle.stop()
            self._final = report
        except BaseException as exc:
            self._add_error(exc)
        finally:
            # The run's error and the files' errors are both reported, never one alone.
            try:
                self.recorder.close()
            except BaseException as exc:
                self._add_error(exc)
            if self._final is not None:
                self._report = self._final
            else:
                self._report = self._handle.report
            self._finish()

    @property
    def report(self) -> RunReport:
        """Counters so far."""
        return self._final or self._handle.report

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters."""
        return self._handle.stats()  # type: ignore[no-any-return]

    def request_stop(self) -> None:
        """Ask the recorded run to end; the files are completed before it reports so."""
        self._handle.request_stop()


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


class RecordingImpl:
    """The recording layer's implementation of
    :class:`retriever.flow.services.RecordingService`."""

    def record(self, pipe: Pipeline, config: Any, *, steps: int, dt: float,
               **options: Any) -> RecordResult:
        """``Pipeline.record``."""
        return record(pipe, config, steps=steps, dt=dt, **options)

    def replay(self, pipe: Pipeline, flow: TemporalFlow, *, path: str,
               **options: Any) -> ReplaySource:
        """``Pipeline.replay``."""
        return replay(pipe, flow, path=path, **options)

    def record_run(self, pipe: Pipeline, *, record: Any, duration: float | None,
                   blocking: bool, **options: Any) -> Any:
        """A recorded or live-viewed in-process run."""
        return record_run(pipe, record=record, duration=duration, blocking=blocking,
                          **options)

    def live_worker_env(self, visualize: Any, app_id: str) -> dict[str, str]:
        """Environment for worker processes of a live-viewed run."""
        return worker_env(visualize, app_id)

    def live_session(self, visualize: Any, app_id: str, ir: Any) -> LiveSession:
        """The live view of a run of ``ir`` on a process backend (the Foxglove server,
        or the shared Rerun recording) and the environment its workers need."""
        return live_session(visualize, app_id, ir)

    def attach_live(self, session: Any, handle: Any) -> Any:
        """A handle that stops ``session`` when the run behind ``handle`` ends."""
        return attach_live(session, handle)


def attach_live(session: LiveSession, handle: Any) -> Any:
    """A handle for ``handle`` that stops ``session`` (the Foxglove server of a process
    backend run) when the run ends."""
    if session.hub is None:
        return handle
    return RecordingRun(handle, session, None)
