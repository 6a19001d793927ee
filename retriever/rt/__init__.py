"""The runtime: sample -> step -> publish, scheduling, the stepper and backends.

Names are loaded on first use. A process that only needs part of the runtime (a dora
node runs the scheduler and nothing else) then does not pay for the rest: importing a
submodule such as ``retriever.rt.step`` runs this file first, and it imports nothing.
``Pipeline.run/step`` find the runtime through :mod:`retriever.flow.services`, which
imports :mod:`retriever.rt.facade` (the module that installs it) when first needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Behavior": "retriever.flow.types",
    "EventStream": "retriever.flow.types",
    "TimedBuffer": "retriever.flow.types",
    "FlowStats": "retriever.rt.report",
    "RunHandle": "retriever.rt.report",
    "RunReport": "retriever.rt.report",
    "LagTracker": "retriever.rt.lag",
    "NodeRuntime": "retriever.rt.node",
    "ScheduleResult": "retriever.rt.step",
    "Scheduler": "retriever.rt.step",
    "Subscriber": "retriever.rt.step",
    "StepResult": "retriever.rt.stepper",
    "Stepper": "retriever.rt.stepper",
    "backend_names": "retriever.rt.execute",
    "execute_ir": "retriever.rt.execute",
    "register_backend": "retriever.rt.execute",
}

if TYPE_CHECKING:
    from retriever.flow.types import Behavior, EventStream, TimedBuffer

    from .execute import backend_names, execute_ir, register_backend
    from .lag import LagTracker
    from .node import NodeRuntime
    from .report import FlowStats, RunHandle, RunReport
    from .step import Scheduler, ScheduleResult, Subscriber
    from .stepper import Stepper, StepResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'retriever.rt' has no attribute {name!r}")
    if module == "retriever.rt.execute":
        # running a graph by hand (execute_ir) works like Pipeline.run: the facade,
        # which installs the runtime, is there too
        importlib.import_module("retriever.rt.facade")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Behavior",
    "EventStream",
    "FlowStats",
    "LagTracker",
    "NodeRuntime",
    "RunHandle",
    "RunReport",
    "ScheduleResult",
    "Scheduler",
    "StepResult",
    "Stepper",
    "Subscriber",
    "TimedBuffer",
    "backend_names",
    "execute_ir",
    "register_backend",
]
