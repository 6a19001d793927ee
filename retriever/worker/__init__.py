"""Function workers: plain Python functions as retriever components.

``run(worker_function, **options)`` runs a function worker over in-memory streams (how
workers are unit-tested); :func:`as_flow` turns the same function plus its
``component.yml`` into a typed flow for a Pipeline on any backend. The modes follow the
function-worker API: synchronous, multi-output, stateful (``initial_state``), virtual
input (a ``virtual_input`` parameter fed through ``virtual_in``), virtual output
(``use_virtual_output=True`` drained through ``virtual_out``) and streaming
(``initial_pull_request``). ``config`` exposes the component's typed configuration.
See docs/worker.md.
"""

from __future__ import annotations

from retriever.flow.stream import Stream, StreamBatch

from .component import Component, Port, component_from_dict, load_component
from .config import WorkerConfig, config
from .engine import UNSET
from .errors import CODES, ComponentError, WorkerError
from .flow import WorkerFlowBase, as_flow
from .local import run
from .persist import StateStore
from .pull import InputsPullOption, InputsPullRequest, StreamPullShift
from .streams import VirtualInputStream, VirtualOutputStream, virtual_in, virtual_out

__all__ = [
    "CODES",
    "UNSET",
    "Component",
    "ComponentError",
    "InputsPullOption",
    "InputsPullRequest",
    "Port",
    "StateStore",
    "Stream",
    "StreamBatch",
    "StreamPullShift",
    "VirtualInputStream",
    "VirtualOutputStream",
    "WorkerConfig",
    "WorkerError",
    "WorkerFlowBase",
    "as_flow",
    "component_from_dict",
    "config",
    "load_component",
    "run",
    "virtual_in",
    "virtual_out",
]
