"""``Pipeline``: the public authoring surface and facade of a graph.

The graph itself (nodes, connections, port resolution, validation) is a
:class:`~.builder.PipelineBuilder`; ``Pipeline`` adds ``with pipe:`` scoped wiring
(``a >> b``) and the runtime facade: ``build_execution``, ``run``, ``step``, ``record``
and ``replay`` are delegated to the IR and runtime layers through
:mod:`retriever.flow.services`.
"""

from __future__ import annotations

import os
from typing import Any, Literal, overload

from . import services
from .adapter import Adapter
from .builder import Connection, PipelineBuilder
from .clock import OnLagName
from .context import active_stack
from .services import (
    ExecutionPlan,
    RecordOutcome,
    ReplayFeed,
    RunControl,
    RunSummary,
    StepOutcome,
)
from .temporal import TemporalFlow

__all__ = ["Connection", "Pipeline"]


class Pipeline(PipelineBuilder):
    """A graph of clocked flows and their connections, with the runtime facade.

    ``default_sync`` and ``default_on_lag`` apply to this pipeline only and win over
    :func:`retriever.init`; a value set on a connection or clock always wins.
    """

    def __init__(self, name: str = "pipeline", *, default_sync: Adapter | None = None,
                 default_on_lag: OnLagName | None = None) -> None:
        super().__init__(name, default_sync=default_sync, default_on_lag=default_on_lag)

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Pipeline:
        active_stack().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = active_stack()
        if stack and stack[-1] is self:
            stack.pop()

    # ------------------------------------------------------------------ facade
    def build_execution(self, policy: Any = "per-flow") -> ExecutionPlan:
        """Validate and build the ``ExecutionGraph`` (partitions, placement)."""
        return services.compiler().build_execution(self, policy=policy)

    @overload
    def run(self, backend: str = ..., *, duration: float | None = ...,
            blocking: Literal[True] = ..., **options: Any) -> RunSummary: ...

    @overload
    def run(self, backend: str = ..., *, duration: float | None = ...,
            blocking: Literal[False], **options: Any) -> RunControl: ...

    def run(self, backend: str = "multiprocessing", *, duration: float | None = None,
            blocking: bool = True, **options: Any) -> RunSummary | RunControl:
        """Run the pipeline on a backend (``multiprocessing``, ``in-process``, ``dora``).

        Blocking (the default): returns the run report when the run ends and raises the
        run's error. ``blocking=False``: returns a handle (``stop``, ``wait``, ...).
        """
        return services.runtime("run").run(self, backend=backend, duration=duration,
                                           blocking=blocking, **options)

    def step(self, dt: float | None = None, now: float | None = None) -> StepOutcome:
        """Advance the in-process stepper by one logical step (debugging)."""
        return services.runtime("step").step(self, dt=dt, now=now)

    def close_stepper(self) -> None:
        """Finalize the flows of the in-process stepper and drop it."""
        services.runtime("close_stepper").close_stepper(self)

    def record(self, config: Any, *, steps: int, dt: float = 0.1,
               **options: Any) -> RecordOutcome:
        """Step the pipeline ``steps`` times and record every flow's inputs and outputs
        (``config``: a ``RecordConfig`` or a path ending in ``.rrd``/``.mcap``)."""
        return services.recording("record").record(self, config, steps=steps, dt=dt,
                                                   **options)

    def replay(self, flow: TemporalFlow, *, path: str | os.PathLike[str], **options: Any,
               ) -> ReplayFeed:
        """Substitute ``flow``'s recorded outputs from ``path`` (``.rrd`` or ``.mcap``) in
        the stepper; returns the replay source (``served``, ``exhausted``, ``len()``)."""
        return services.recording("replay").replay(self, flow, path=os.fspath(path),
                                                   **options)
