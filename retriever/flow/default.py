"""The thread-local default pipeline, for notebooks and REPL experiments.

Scripts should prefer an explicit ``Pipeline`` (or ``with Pipeline():``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .context import active_pipeline
from .pipeline import Connection, Pipeline
from .temporal import UNSET, TemporalFlow

_local = threading.local()


def default_pipeline() -> Pipeline:
    """This thread's default pipeline, created on first access."""
    pipe: Pipeline | None = getattr(_local, "pipeline", None)
    if pipe is None:
        pipe = Pipeline("default")
        _local.pipeline = pipe
    return pipe


def reset_default_pipeline() -> Pipeline:
    """Replace this thread's default pipeline with a new empty one, now."""
    pipe = Pipeline("default")
    _local.pipeline = pipe
    return pipe


def clear_default_pipeline() -> None:
    """Forget this thread's default pipeline; a new one is created on next access."""
    _local.pipeline = None


def connect(src: TemporalFlow, dst: TemporalFlow, *, sync: Any = UNSET,
            map: Mapping[str, str] | None = None, edge_config: Any = None) -> Connection:
    """Connect two flows in the active ``with Pipeline():`` or the default pipeline.

    No adapter is injected: pass ``sync=`` or set ``retriever.init(default_sync=...)``.
    """
    pipe = active_pipeline() or default_pipeline()
    return pipe.connect(src, dst, sync=sync, map=map, edge_config=edge_config)
