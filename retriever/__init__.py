"""retriever: a typed dataflow runtime for robots.

Author typed flows (``Flow[I, O]`` over ``@io`` envelopes), give them clocks, wire them
with sampling adapters, validate the graph into an IR and run it in-process, on local
processes or on dora. Heavy optional dependencies (dora, rerun, mcap, opencv, pyarrow)
are imported only by the features that need them.
"""

from __future__ import annotations

from retriever import ir as _ir  # registers validate/build_execution with the facade
from retriever import rt as _rt  # registers run/step/record/replay with the facade
from retriever.contract.errors import (
    ContractError,
    FlowError,
    RetrieverError,
    ValidationError,
)
from retriever.flow import (
    EdgeConfig,
    Flow,
    Hold,
    Hybrid,
    Latest,
    Pipeline,
    Rate,
    Tick,
    Trigger,
    Window,
    clear_default_pipeline,
    connect,
    default_pipeline,
    init,
    io,
    reset_default_pipeline,
)
from retriever.ir import IR, ExecutionGraph
from retriever.rt import execute_ir

__version__ = "0.1.0"

del _ir, _rt

__all__ = [
    "IR",
    "ContractError",
    "EdgeConfig",
    "ExecutionGraph",
    "Flow",
    "FlowError",
    "Hold",
    "Hybrid",
    "Latest",
    "Pipeline",
    "Rate",
    "RetrieverError",
    "Tick",
    "Trigger",
    "ValidationError",
    "Window",
    "__version__",
    "clear_default_pipeline",
    "connect",
    "default_pipeline",
    "execute_ir",
    "init",
    "io",
    "reset_default_pipeline",
]
