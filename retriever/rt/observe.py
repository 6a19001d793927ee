"""Step observers: code that watches every flow execution in backend workers.

The runtime knows nothing about viewers or files. A higher layer (live viewing in
:mod:`retriever.record.live`) names a factory as ``module:function`` in the
``RETRIEVER_STEP_OBSERVERS`` environment variable of the run; each worker process
imports it by name (like a plugin), calls it once, and reports every execution to the
observer it returns.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Protocol

from retriever.contract.errors import ConfigError

from .node import Message

ENV = "RETRIEVER_STEP_OBSERVERS"
log = logging.getLogger("retriever.observe")


class StepObserver(Protocol):
    """Receives each execution of the flows of one worker process."""

    def on_step(self, flow: str, step: int, now: float, inputs: Any,
                message: Message | None) -> None:
        """Called after a flow ran: its step count, time, input and published message."""
        ...

    def close(self) -> None:
        """Called once when the worker stops."""
        ...


def observers_from_env() -> list[StepObserver]:
    """Build the observers the run's environment names (empty when none)."""
    out: list[StepObserver] = []
    for spec in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        module, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"step observer {spec!r} in ${ENV} cannot be loaded: {exc}",
                              hint="name a module:function that returns an observer"
                              ) from None
        observer = factory()
        if observer is not None:
            out.append(observer)
    return out


def notify(observers: list[StepObserver], flow: str, step: int, now: float, inputs: Any,
           message: Message | None) -> None:
    """Report one execution to every observer; an observer that fails is dropped with a
    logged error (watching must never stop the robot)."""
    for obs in list(observers):
        try:
            obs.on_step(flow, step, now, inputs, message)
        except Exception:
            log.exception("step observer %r failed and was detached", obs)
            observers.remove(obs)


def close_all(observers: list[StepObserver]) -> None:
    """Close every observer (errors are logged, the others still close)."""
    for obs in observers:
        try:
            obs.close()
        except Exception:
            log.exception("step observer %r failed to close", obs)
