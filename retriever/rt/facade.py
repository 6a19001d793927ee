"""The runtime side of the ``Pipeline`` facade (registered at import)."""

from __future__ import annotations

from typing import Any

from retriever.contract.errors import ConfigError
from retriever.flow.pipeline import Pipeline
from retriever.flow.services import register_service
from retriever.ir.lower import lower

from .execute import execute_ir
from .stepper import Stepper, StepResult


def live_flows(pipe: Pipeline) -> dict[str, Any]:
    """The authored flow instances, by node name (used by in-process execution)."""
    return {str(tf.name): tf.flow for tf in pipe.nodes}


def stepper_for(pipe: Pipeline) -> Stepper:
    """The pipeline's stepper, created (validated, flows started) on first use."""
    session = pipe.runtime_session
    if session is None or session.closed:
        session = Stepper(lower(pipe), live_flows(pipe))
        pipe.runtime_session = session
    return session  # type: ignore[no-any-return]


def step(pipe: Pipeline, *, dt: float | None = None, now: float | None = None) -> StepResult:
    """``Pipeline.step``."""
    return stepper_for(pipe).step(dt=dt, now=now)


def close_stepper(pipe: Pipeline) -> None:
    """``Pipeline.close_stepper``."""
    session = pipe.runtime_session
    pipe.runtime_session = None
    if session is not None:
        session.close()


def run(pipe: Pipeline, *, backend: str = "multiprocessing", duration: float | None = None,
        blocking: bool = True, record: Any = None, **options: Any) -> Any:
    """``Pipeline.run``."""
    if record is not None:
        raise ConfigError(
            f"pipe.run(record=...) is not supported on backend {backend!r}",
            hint="use pipe.record(path, steps=..., dt=...) or pipe.run(backend='in-process', "
                 "record=...)")
    ir = lower(pipe)
    live = live_flows(pipe) if backend in ("in-process", "inprocess") else None
    return execute_ir(ir, backend, duration=duration, blocking=blocking, live=live, **options)


register_service("step", step)
register_service("close_stepper", close_stepper)
register_service("run", run)
