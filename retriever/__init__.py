"""retriever: a typed dataflow runtime for robots.

Author typed flows (``Flow[I, O]`` over ``@io`` envelopes), give them clocks, wire them
with sampling adapters, validate the graph into an IR and run it in-process, on local
processes or on dora. Names are loaded on first use, so ``import retriever`` stays fast
and heavy optional dependencies (dora, rerun, mcap, opencv, pyarrow) are imported only
by the features that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ContractError": "retriever.contract.errors",
    "FlowError": "retriever.contract.errors",
    "RetrieverError": "retriever.contract.errors",
    "ValidationError": "retriever.contract.errors",
    "EdgeConfig": "retriever.flow",
    "Flow": "retriever.flow",
    "Hold": "retriever.flow",
    "Hybrid": "retriever.flow",
    "Latest": "retriever.flow",
    "Pipeline": "retriever.flow",
    "Rate": "retriever.flow",
    "Tick": "retriever.flow",
    "Trigger": "retriever.flow",
    "Window": "retriever.flow",
    "Events": "retriever.flow",
    "clear_default_pipeline": "retriever.flow",
    "connect": "retriever.flow",
    "default_pipeline": "retriever.flow",
    "init": "retriever.flow",
    "io": "retriever.flow",
    "reset_default_pipeline": "retriever.flow",
    "IR": "retriever.ir",
    "ExecutionGraph": "retriever.ir",
    "execute_ir": "retriever.rt",
    "RecordConfig": "retriever.record",
}

if TYPE_CHECKING:
    from retriever.contract.errors import (
        ContractError,
        FlowError,
        RetrieverError,
        ValidationError,
    )
    from retriever.flow import (
        EdgeConfig,
        Events,
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
    from retriever.record import RecordConfig
    from retriever.rt import execute_ir


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'retriever' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "IR",
    "ContractError",
    "EdgeConfig",
    "Events",
    "ExecutionGraph",
    "Flow",
    "FlowError",
    "Hold",
    "Hybrid",
    "Latest",
    "Pipeline",
    "Rate",
    "RecordConfig",
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
