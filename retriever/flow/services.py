"""The seam between authoring and the runtime (dependency inversion).

``Pipeline.validate/run/step/record/replay`` are runtime work. The layers that do that
work install an implementation of a small typed protocol here when they are imported
(:class:`GraphCompiler` by ``retriever.ir``, :class:`PipelineRuntime` by
``retriever.rt``, :class:`RecordingService` by ``retriever.record``), so the authoring
layer never imports them. What the facade returns is described by protocols too
(:class:`GraphIR`, :class:`RunSummary`, :class:`RunControl`, :class:`StepOutcome`,
...), which the runtime's real types satisfy.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from retriever.contract.errors import RetrieverError

if TYPE_CHECKING:
    from .builder import PipelineBuilder
    from .pipeline import Pipeline
    from .temporal import TemporalFlow

# Modules that install the implementations when imported, loaded on first need (by
# name, like plugins), so authoring never imports the runtime and `import retriever`
# stays light: the compiler's, the runtime's and the recording service's, in that order.
PROVIDERS: tuple[str, ...] = ("retriever.ir", "retriever.rt.facade", "retriever.record")


# ---------------------------------------------------------------------- results

class GraphIR(Protocol):
    """A validated graph (``retriever.ir.IR``)."""

    @property
    def name(self) -> str:
        """The pipeline's name."""
        ...

    @property
    def nodes(self) -> Sequence[Any]:
        """The flows, in authoring order."""
        ...

    @property
    def edges(self) -> Sequence[Any]:
        """The connections."""
        ...

    def node(self, node_id: str) -> Any:
        """The node called ``node_id``."""
        ...

    def to_json(self, *, indent: int | None = 2) -> str:
        """The versioned JSON document."""
        ...


class ExecutionPlan(Protocol):
    """A partitioned graph (``retriever.ir.ExecutionGraph``)."""

    @property
    def policy(self) -> str:
        """The partitioning policy used."""
        ...

    def to_json(self, *, indent: int | None = 2) -> str:
        """The versioned JSON document."""
        ...


class FlowCounters(Protocol):
    """One flow's counters in a run report (``retriever.rt.FlowStats``)."""

    @property
    def steps(self) -> int:
        """Runs of ``step()``."""
        ...

    @property
    def lag_events(self) -> int:
        """Times the flow found itself behind its clock."""
        ...

    @property
    def skipped_ticks(self) -> int:
        """Ticks skipped by the lag policy."""
        ...

    @property
    def skipped_at_stop(self) -> int:
        """Due ticks of a catch-up burst left unrun because the run stopped."""
        ...

    @property
    def dropped(self) -> int:
        """Messages dropped before the flow saw them."""
        ...

    @property
    def errors(self) -> int:
        """Failed steps."""
        ...

    @property
    def waiting_on(self) -> list[str]:
        """Input ports a flow that never ran still waits on."""
        ...


class RunSummary(Protocol):
    """What a finished run did (``retriever.rt.RunReport``)."""

    @property
    def backend(self) -> str:
        """The backend's name."""
        ...

    @property
    def duration(self) -> float:
        """Seconds the run lasted."""
        ...

    @property
    def flows(self) -> Mapping[str, FlowCounters]:
        """Counters per flow."""
        ...

    @property
    def error(self) -> BaseException | None:
        """The error that ended the run, if any."""
        ...

    def summary(self) -> str:
        """A compact text summary."""
        ...


class RunControl(Protocol):
    """A run going on (``retriever.rt.RunHandle``)."""

    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        ...

    @property
    def report(self) -> RunSummary:
        """Counters so far."""
        ...

    def stop(self) -> RunSummary:
        """Stop and return the report (raises the run's error)."""
        ...

    def wait(self, timeout: float | None = None) -> RunSummary | None:
        """Wait for the end (None on timeout)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Live per-flow counters."""
        ...


class StepOutcome(Protocol):
    """What one stepper step did (``retriever.rt.step.ScheduleResult``)."""

    @property
    def now(self) -> float:
        """The time used for sampling and output timestamps."""
        ...

    @property
    def executed(self) -> list[str]:
        """Flows that ran, in order."""
        ...

    @property
    def inputs(self) -> dict[str, Any]:
        """What each flow that ran sampled."""
        ...

    @property
    def outputs(self) -> dict[str, Any]:
        """What each flow that ran returned."""
        ...

    @property
    def messages(self) -> dict[str, Any]:
        """What each flow published."""
        ...


class RecordOutcome(Protocol):
    """What ``pipe.record`` wrote (``retriever.record.RecordResult``)."""

    @property
    def paths(self) -> Sequence[os.PathLike[str]]:
        """The files written."""
        ...

    @property
    def steps(self) -> int:
        """Steps recorded."""
        ...


class ReplayFeed(Protocol):
    """The recorded messages a replayed flow publishes (``retriever.record.ReplaySource``)."""

    @property
    def served(self) -> int:
        """Messages published so far."""
        ...

    @property
    def exhausted(self) -> bool:
        """Whether every recorded message has been due."""
        ...

    def __len__(self) -> int:
        ...


# ---------------------------------------------------------------------- services

class GraphCompiler(Protocol):
    """Validation and lowering (installed by ``retriever.ir``)."""

    def validate(self, pipe: PipelineBuilder, *, strict_single_io: bool = False,
                 explicit_sync: bool = False) -> GraphIR:
        """``PipelineBuilder.validate`` (and so ``Pipeline.validate``)."""
        ...

    def build_execution(self, pipe: Pipeline, *, policy: Any = "per-flow") -> ExecutionPlan:
        """``Pipeline.build_execution``."""
        ...


class PipelineRuntime(Protocol):
    """Running and stepping (installed by ``retriever.rt``)."""

    def run(self, pipe: Pipeline, *, backend: str, duration: float | None, blocking: bool,
            **options: Any) -> RunSummary | RunControl:
        """``Pipeline.run``."""
        ...

    def step(self, pipe: Pipeline, *, dt: float | None, now: float | None) -> StepOutcome:
        """``Pipeline.step``."""
        ...

    def close_stepper(self, pipe: Pipeline) -> None:
        """``Pipeline.close_stepper``."""
        ...


class LiveView(Protocol):
    """The live view of a run on a process backend (``visualize=``): what its worker
    processes need in their environment, and what to stop when the run ends."""

    env: dict[str, str]

    def close(self) -> None:
        """Stop serving the view (a Foxglove server; nothing for Rerun)."""
        ...


class RecordingService(Protocol):
    """Recording, replay and live viewing (installed by ``retriever.record``)."""

    def record(self, pipe: Pipeline, config: Any, *, steps: int, dt: float,
               **options: Any) -> RecordOutcome:
        """``Pipeline.record``."""
        ...

    def replay(self, pipe: Pipeline, flow: TemporalFlow, *, path: str,
               **options: Any) -> ReplayFeed:
        """``Pipeline.replay``."""
        ...

    def record_run(self, pipe: Pipeline, *, record: Any, duration: float | None,
                   blocking: bool, **options: Any) -> RunSummary | RunControl:
        """An in-process run that records or shows itself live."""
        ...

    def live_worker_env(self, visualize: Any, app_id: str) -> dict[str, str]:
        """Environment telling worker processes where to send live views."""
        ...

    def live_session(self, visualize: Any, app_id: str, ir: Any) -> LiveView:
        """The live view of a run of ``ir`` on a process backend."""
        ...

    def attach_live(self, session: Any, handle: Any) -> Any:
        """A run handle that also stops ``session`` when the run ends."""
        ...


_compiler: list[GraphCompiler] = []
_runtime: list[PipelineRuntime] = []
_recording: list[RecordingService] = []
_refusal: list[Callable[[str], BaseException]] = []


def install_compiler(impl: GraphCompiler) -> None:
    """Install the implementation of validation and lowering."""
    _compiler[:] = [impl]


def install_runtime(impl: PipelineRuntime) -> None:
    """Install the implementation of running and stepping."""
    _runtime[:] = [impl]


def install_recording(impl: RecordingService) -> None:
    """Install the implementation of recording and replay."""
    _recording[:] = [impl]


def _load(slot: list[Any], what: str, provider: str) -> Any:
    # only the module that provides this slot: running a pipeline does not import the
    # recording layer (a tenth of a second of imports before the first run starts)
    if not slot:
        importlib.import_module(provider)
    if not slot:
        raise RetrieverError(f"no implementation of {what} is installed",
                             hint="import retriever (the package installs the runtime)")
    return slot[0]


def compiler() -> GraphCompiler:
    """The installed :class:`GraphCompiler`."""
    return _load(_compiler, "Pipeline.validate()", PROVIDERS[0])  # type: ignore[no-any-return]


def runtime(operation: str = "run") -> PipelineRuntime:
    """The installed :class:`PipelineRuntime` (``operation`` may be refused, see
    :func:`refuse_running`)."""
    _check_allowed(operation)
    return _load(_runtime, "Pipeline.run()/step()", PROVIDERS[1])  # type: ignore[no-any-return]


def recording(operation: str = "record") -> RecordingService:
    """The installed :class:`RecordingService`."""
    _check_allowed(operation)
    return _load(_recording, "Pipeline.record()/replay()", PROVIDERS[2])  # type: ignore[no-any-return]


def _check_allowed(operation: str) -> None:
    if _refusal and operation in ("run", "step", "record", "replay"):
        raise _refusal[-1](operation)


@contextmanager
def refuse_running(make_error: Callable[[str], BaseException]) -> Iterator[None]:
    """Within the block, ``run/step/record/replay`` raise ``make_error(name)`` instead
    of running anything (``retriever check`` imports user modules this way)."""
    _refusal.append(make_error)
    try:
        yield
    finally:
        _refusal.remove(make_error)


__all__ = [
    "PROVIDERS",
    "ExecutionPlan",
    "FlowCounters",
    "GraphCompiler",
    "GraphIR",
    "PipelineRuntime",
    "RecordOutcome",
    "RecordingService",
    "ReplayFeed",
    "RunControl",
    "RunSummary",
    "StepOutcome",
    "compiler",
    "install_compiler",
    "install_recording",
    "install_runtime",
    "recording",
    "refuse_running",
    "runtime",
]
