"""Recording and replay: ``.rrd`` (Rerun) and ``.mcap`` (Foxglove) files of a run.

* ``pipe.record(RecordConfig(path="run.rrd", mirrors=("run.mcap",)), steps=50, dt=0.1)``
  or ``pipe.run(backend="in-process", record="run.rrd")`` write every flow's inputs
  and outputs, one channel per port.
* ``pipe.replay(camera, path="run.rrd")`` then ``pipe.step(dt=...)`` feeds the recorded
  outputs of ``camera`` to the rest of the pipeline, bit for bit.
* :func:`open_recording` reads a file back; :mod:`retriever.record.live` streams to a
  Rerun viewer (``visualize="rerun"``) or serves a Foxglove WebSocket
  (``visualize="foxglove"``, :mod:`retriever.record.fox_live`).
* Vision and spatial payloads are written as Foxglove's well-known messages
  (:mod:`.fox_known`) and Rerun's archetypes with a blueprint (:mod:`.rerun_views`).

rerun-sdk and mcap are imported only when a file is written or read (extra
``pyretriever[record]``). Importing this package registers ``Pipeline.record``,
``Pipeline.replay`` and recorded in-process runs with the pipeline facade.
"""

from __future__ import annotations

from retriever.flow import services

from .config import RecordConfig
from .errors import RecordingError, TruncatedRecordingWarning
from .live import (
    LiveLogger,
    init_live,
    init_live_from_env,
    live_env,
    live_session,
    new_recording_id,
)
from .model import Channel, Recording
from .offload import OffloadRecorder, open_recorder
from .reader import open_recording
from .recorder import Recorder, RecordResult
from .replay import ReplaySource, replay
from .session import RecordingImpl, RecordingRun, record, record_run

services.install_recording(RecordingImpl())

__all__ = [
    "Channel",
    "LiveLogger",
    "OffloadRecorder",
    "RecordConfig",
    "RecordResult",
    "Recorder",
    "Recording",
    "RecordingError",
    "RecordingRun",
    "ReplaySource",
    "TruncatedRecordingWarning",
    "init_live",
    "init_live_from_env",
    "live_env",
    "live_session",
    "new_recording_id",
    "open_recorder",
    "open_recording",
    "record",
    "record_run",
    "replay",
]
