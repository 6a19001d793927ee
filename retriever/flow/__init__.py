"""Authoring: flows, envelopes, clocks, adapters, edges and pipelines.

``Exact``, ``Linear`` and ``Chunking`` live in :mod:`retriever.flow.adapter` and are
imported from there.
"""

from retriever.contract.envelope import io

from .adapter import Adapter, Events, Hold, Latest, Window, register_adapter
from .base import Flow, FlowSignature
from .builder import PipelineBuilder
from .clock import Clock, Hybrid, Rate, Tick, Trigger
from .default import clear_default_pipeline, connect, default_pipeline, reset_default_pipeline
from .edge import EdgeConfig
from .pipeline import Connection, Pipeline
from .settings import init
from .stream import Stream, StreamBatch
from .temporal import TemporalFlow
from .types import Behavior, EventStream, TimedBuffer

__all__ = [
    "Adapter",
    "Behavior",
    "Clock",
    "Connection",
    "EdgeConfig",
    "EventStream",
    "Events",
    "Flow",
    "FlowSignature",
    "Hold",
    "Hybrid",
    "Latest",
    "Pipeline",
    "PipelineBuilder",
    "Rate",
    "Stream",
    "StreamBatch",
    "TemporalFlow",
    "Tick",
    "TimedBuffer",
    "Trigger",
    "Window",
    "clear_default_pipeline",
    "connect",
    "default_pipeline",
    "init",
    "io",
    "register_adapter",
    "reset_default_pipeline",
]
