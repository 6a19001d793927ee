"""The runtime side of the ``Pipeline`` facade (installed at import).

:class:`RuntimeImpl` implements :class:`retriever.flow.services.PipelineRuntime`. The
stepper state of a pipeline lives here, keyed weakly by the pipeline, never on the
``Pipeline`` object itself.
"""

from __future__ import annotations

import math
import numbers
import os
import weakref
from typing import Any

from retriever.contract.errors import ConfigError
from retriever.flow import services
from retriever.flow.pipeline import Pipeline
from retriever.ir.lower import lower

from .execute import execute_ir
from .handle import BackgroundRun
from .options import run_call, seconds
from .report import RunHandle, RunReport
from .stepper import ReplaySource, Stepper, StepResult

_IN_PROCESS = ("in-process", "inprocess", "in_process")
# The open stepper of each pipeline, and replay sources set before it exists.
_STEPPERS: weakref.WeakKeyDictionary[Pipeline, Stepper] = weakref.WeakKeyDictionary()
_PENDING_REPLAY: weakref.WeakKeyDictionary[Pipeline, dict[str, ReplaySource]] = (
    weakref.WeakKeyDictionary())


class _ReplayStandIn:
    """Takes the place of a replayed flow: its lifecycle and ``step`` never run."""

    def reset(self) -> None:
        """Nothing to reset: the recording provides the outputs."""

    def step(self, _: Any) -> None:
        """Never called (the stepper publishes the recorded message instead)."""

    def finalize(self) -> None:
        """Nothing to release."""


def live_flows(pipe: Pipeline) -> dict[str, Any]:
    """The authored flow instances, by node name (used by in-process execution)."""
    return {str(tf.name): tf.flow for tf in pipe.nodes}


def open_stepper(pipe: Pipeline) -> Stepper | None:
    """The pipeline's stepper if one is open (flows started, not yet finalized)."""
    session = _STEPPERS.get(pipe)
    return session if session is not None and not session.closed else None


def stepper_for(pipe: Pipeline) -> Stepper:
    """The pipeline's stepper, created (validated, flows started) on first use."""
    session = open_stepper(pipe)
    if session is None:
        pending = _PENDING_REPLAY.pop(pipe, {})
        live = live_flows(pipe)
        for name in pending:  # a replayed flow is not started (it may need hardware)
            live[name] = _ReplayStandIn()
        session = Stepper(lower(pipe), live)
        session.replay.update(pending)
        _STEPPERS[pipe] = session
    return session


def set_replay(pipe: Pipeline, flow: str, source: ReplaySource) -> None:
    """Publish ``source``'s messages instead of running ``flow`` in the pipeline's stepper.

    Applies to the open stepper, or to the next one created; ``close_stepper`` ends it.
    """
    session = open_stepper(pipe)
    if session is not None:
        session.replay[flow] = source
    else:
        _PENDING_REPLAY.setdefault(pipe, {})[flow] = source


def step(pipe: Pipeline, *, dt: float | None = None, now: float | None = None) -> StepResult:
    """``Pipeline.step``."""
    seconds(dt, "dt", where="Pipeline.step", none=True, zero=False)
    if now is not None and (isinstance(now, bool) or not isinstance(now, numbers.Real)
                            or not math.isfinite(now)):
        raise ConfigError(f"Pipeline.step: now={now!r} is not a finite number of seconds")
    return stepper_for(pipe).step(dt=dt, now=now)


def close_stepper(pipe: Pipeline) -> None:
    """``Pipeline.close_stepper``."""
    session = _STEPPERS.pop(pipe, None)
    _PENDING_REPLAY.pop(pipe, None)
    if session is not None:
        session.close()


def run(pipe: Pipeline, *, backend: str = "multiprocessing", duration: float | None = None,
        blocking: bool = True, record: Any = None, **options: Any
        ) -> RunReport | RunHandle | BackgroundRun:
    """``Pipeline.run``.

    ``record=`` works with ``backend="in-process"`` only; recording and live viewing
    (``visualize=``) of in-process runs are implemented by ``retriever.record``.
    """
    run_call("Pipeline.run", backend, duration, blocking)
    if "live" in options:
        raise ConfigError("Pipeline.run(live=...) is not an option: the pipeline's own "
                          "flow objects are used", hint="use execute_ir(ir, live=...)")
    in_process = backend in _IN_PROCESS
    if record is not None and not in_process:
        raise ConfigError(
            f"pipe.run(record=...) cannot record on backend {backend!r}",
            hint="pass backend='in-process' to record a run, or use "
                 "pipe.record(path, steps=..., dt=...)")
    if in_process and (record is not None or options.get("visualize")):
        return services.recording("run").record_run(  # type: ignore[return-value]
            pipe, record=record, duration=duration, blocking=blocking, **options)
    ir = lower(pipe)
    live = live_flows(pipe) if in_process else None
    visualize = options.pop("visualize", None)
    recording = services.recording("run") if visualize else None
    view = recording.live_session(visualize, pipe.name, ir) if recording else None
    env = view.env if view is not None else {}
    # Worker processes inherit the environment when they start: that is how every worker
    # finds the shared live view (see retriever.rt.observe).
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = execute_ir(ir, backend, duration=duration, blocking=blocking, live=live,
                            **options)
    except BaseException:
        if view is not None:
            view.close()
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if view is None or recording is None:
        return result
    if blocking:
        view.close()
        return result
    return recording.attach_live(view, result)  # type: ignore[no-any-return]


class RuntimeImpl:
    """The runtime's implementation of :class:`retriever.flow.services.PipelineRuntime`."""

    def run(self, pipe: Pipeline, *, backend: str, duration: float | None, blocking: bool,
            **options: Any) -> RunReport | RunHandle:
        """``Pipeline.run``."""
        return run(pipe, backend=backend, duration=duration,
                   blocking=blocking, **options)

    def step(self, pipe: Pipeline, *, dt: float | None, now: float | None) -> StepResult:
        """``Pipeline.step``."""
        return step(pipe, dt=dt, now=now)

    def close_stepper(self, pipe: Pipeline) -> None:
        """``Pipeline.close_stepper``."""
        close_stepper(pipe)


services.install_runtime(RuntimeImpl())
