"""The runtime: sample -> step -> publish, scheduling, the stepper and backends."""

from retriever.flow.types import Behavior, EventStream, TimedBuffer

from . import facade as _facade  # registers Pipeline.run/step with the facade
from .backends import inprocess as _inprocess  # the reference backend is always there
from .execute import backend_names, execute_ir, register_backend
from .lag import LagTracker
from .node import NodeRuntime
from .report import FlowStats, RunHandle, RunReport
from .step import Scheduler, ScheduleResult, Subscriber
from .stepper import Stepper, StepResult

del _facade, _inprocess

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
