"""Data payload types (``retriever/data/v1/...``): events, event buffers and datasets.

This module gathers the public names of :mod:`retriever.types.events` (events with
integer-nanosecond time and lineage, :class:`EventBuffer`) and
:mod:`retriever.types.dataset` (dataset manifests and :func:`export_parquet`).
"""

from __future__ import annotations

from .dataset import PARQUET_EXTRA, DatasetManifest, Episode, StreamInfo, export_parquet
from .events import Event, EventBuffer, EventRef

__all__ = ["PARQUET_EXTRA", "DatasetManifest", "Episode", "Event", "EventBuffer", "EventRef",
           "StreamInfo", "export_parquet"]
