"""``TemporalFlow``: a flow with a clock, the handle used to wire a pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from retriever.contract.errors import ConfigError
from retriever.contract.rules import check_clock

from .clock import Clock
from .context import active_pipeline, report, user_location
from .describe import describe_flow

if TYPE_CHECKING:
    from .base import Flow


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class TemporalFlow:
    """The result of ``flow @ clock``.

    Wire it with ``pipe.connect(a, b, sync=...)``, or inside ``with pipe:`` with
    ``a.then(b, sync=...)`` / ``a >> b``. Once added to a pipeline, ``pipeline`` is set
    and ``name`` is the node's unique name there.
    """

    def __init__(self, flow: Flow[Any, Any], clock: Clock) -> None:
        if isinstance(flow, TemporalFlow):
            raise ConfigError(f"{flow.name or 'this flow'} already has a clock",
                              hint="attach one clock per flow: Flow() @ Rate(hz=10)")
        if not isinstance(clock, Clock):
            raise ConfigError(f"{clock!r} is not a clock",
                              hint="use Rate(hz), Tick(hz), Trigger(field) or Hybrid(hz, ...)")
        self.flow = flow
        self.clock = clock
        self.name: str | None = getattr(flow, "name", None) if isinstance(
            getattr(flow, "name", None), str) else None
        self.pipeline: Any = None
        self.machine: str | None = None
        self.labels: dict[str, str] = {}
        self.restart: dict[str, Any] | None = None
        self.location = user_location()  # where `flow @ clock` was written
        cls = type(flow)
        if getattr(cls, "__retriever_signature__", None) is not None:
            report(check_clock(describe_flow(cls, self.name or cls.__qualname__, clock,
                                             location=self.location)))
        pipe = active_pipeline()
        if pipe is not None:
            pipe.add(self)

    @property
    def flow_class(self) -> type:
        """The class of the wrapped flow."""
        return type(self.flow)

    def named(self, name: str) -> TemporalFlow:
        """Give the node a name (before it is added to a pipeline)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"named({name!r}): a node name is a non-empty string")
        if self.pipeline is not None:
            self.pipeline.rename(self, name)
        else:
            self.name = name
        return self

    def deploy(self, machine: str | None = None, labels: Mapping[str, str] | None = None,
               ) -> TemporalFlow:
        """Placement hint for distributed backends (dora ``deploy:``)."""
        if machine is not None and (not isinstance(machine, str) or not machine):
            raise ConfigError(f"deploy(machine={machine!r}): a machine is named by a "
                              "non-empty string", hint='deploy(machine="robot")')
        if labels is not None and (not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
            raise ConfigError(f"deploy(labels={labels!r}): labels map strings to strings",
                              hint='deploy(labels={"gpu": "true"})')
        self.machine = machine
        self.labels = dict(labels or {})
        return self

    def restart_policy(self, policy: str = "never", max_restarts: int = 3,
                       window: float = 60.0) -> TemporalFlow:
        """Per-flow restart policy for process backends: never, on-failure or always."""
        if not isinstance(policy, str) or policy not in ("never", "on-failure", "always"):
            raise ConfigError(f"unknown restart policy {policy!r}",
                              hint="use never, on-failure or always")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) \
                or max_restarts < 0:
            raise ConfigError(f"restart_policy(max_restarts={max_restarts!r}): a whole "
                              "number >= 0 is needed")
        if isinstance(window, bool) or not isinstance(window, (int, float)) \
                or not 0 < window < float("inf"):
            raise ConfigError(f"restart_policy(window={window!r}): a number of seconds "
                              "> 0 is needed")
        self.restart = {"policy": policy, "max_restarts": int(max_restarts),
                        "window": float(window)}
        return self

    def then(self, other: TemporalFlow, *, sync: Any = UNSET,
             map: Mapping[str, str] | None = None, edge_config: Any = None) -> TemporalFlow:
        """Connect ``self -> other`` in this handle's (or the active) pipeline; returns
        ``other`` so chains read left to right.

        Without ``sync=`` the edge uses the pipeline's or :func:`retriever.init`'s
        default sync, else ``Latest()`` (``a >> b`` has no place to pass one).
        """
        pipe = self.pipeline or getattr(other, "pipeline", None) or active_pipeline()
        if pipe is None:
            raise ConfigError(
                "then()/>> needs a pipeline",
                hint="wire inside 'with Pipeline(...) as pipe:' or use pipe.connect(a, b)")
        pipe._connect(self, other, sync=sync, map=map, edge_config=edge_config,
                      implicit_sync=True)
        return other

    def __rshift__(self, other: TemporalFlow) -> TemporalFlow:
        return self.then(other)

    def __repr__(self) -> str:
        return f"TemporalFlow({self.name or type(self.flow).__qualname__} @ {self.clock})"
