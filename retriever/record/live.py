"""Live viewing in the Rerun viewer, shared by every backend.

A viewer is used only when one is reachable: the gRPC port is probed with a short TCP
connect first, so a run without a viewer (CI, a headless robot) never waits on one.
Processes that should appear in one viewer session use the same recording id: the
parent calls :func:`new_recording_id` (or :func:`live_env`) and hands it to every
worker, and each worker calls :func:`init_live` (or :func:`init_live_from_env`) and logs
its flows' messages with :meth:`LiveLogger.log_message`.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from retriever.contract.errors import ConfigError, MissingDependencyError

from . import deps, visual
from .layout import topic as port_topic
from .rrd import entity_path

DEFAULT_URL = "rerun+http://127.0.0.1:9876/proxy"
ENV_URL = "RETRIEVER_RERUN_URL"
ENV_RECORDING_ID = "RETRIEVER_RERUN_RECORDING_ID"
ENV_APP_ID = "RETRIEVER_RERUN_APP_ID"
MODES = ("rerun", "auto")


def viewer_url(url: str | None = None) -> str:
    """The viewer URL: ``url``, else ``$RETRIEVER_RERUN_URL``, else the local default."""
    return url or os.environ.get(ENV_URL) or DEFAULT_URL


def viewer_reachable(url: str | None = None, timeout: float = 0.25) -> bool:
    """Whether something accepts connections on the viewer's gRPC port (never blocks long)."""
    parsed = urlparse(viewer_url(url))
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 9876
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def new_recording_id() -> str:
    """A fresh recording id to share between the processes of one run."""
    return str(uuid.uuid4())


def live_env(recording_id: str, app_id: str = "retriever",
             url: str | None = None) -> dict[str, str]:
    """Environment variables that make :func:`init_live_from_env` join one recording."""
    return {ENV_RECORDING_ID: recording_id, ENV_APP_ID: app_id, ENV_URL: viewer_url(url)}


class LiveLogger:
    """Streams port values to a viewer (what they look like only, not exact bytes)."""

    def __init__(self, stream: Any, rr: Any) -> None:
        self.stream = stream
        self._rr = rr
        self._entities: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = False

    def begin_step(self, step: int, now: float) -> None:
        """Set the ``step`` and ``time`` timelines for the values that follow."""
        self.stream.set_time("step", sequence=step)
        self.stream.set_time("time", duration=now)

    def write(self, topic: str, value: Any) -> None:
        """Show one port value."""
        entity = self._entities.get(topic)
        if entity is None:
            entity = self._entities[topic] = entity_path(self._rr, topic)
        self.stream.log(entity, visual.archetype(self._rr, value))

    def end_step(self) -> None:
        """Nothing to do: the SDK batches and sends in the background."""

    def log_message(self, flow: str, side: str, message: Mapping[str, Any] | None, *,
                    step: int, now: float) -> None:
        """Show one flow's ``{port: value}`` message (for backend workers)."""
        if not message:
            return
        with self._lock:
            self.begin_step(step, now)
            for port, value in message.items():
                if value is not None:
                    self.write(port_topic(flow, side, port), value)

    def close(self) -> None:
        """Stop streaming (pending data is handed to the SDK, which sends it in the
        background; a vanished viewer does not block)."""
        if self._closed:
            return
        self._closed = True
        self.stream.flush(timeout_sec=0.0)
        self.stream.disconnect()


def init_live(recording_id: str, app_id: str = "retriever", *, url: str | None = None,
              timeout: float = 0.25, required: bool = False) -> LiveLogger | None:
    """Connect this process to a viewer under the shared ``recording_id``.

    Returns None (and logs nothing) when rerun-sdk is missing or no viewer answers
    within ``timeout`` seconds. With ``required=True`` a missing rerun-sdk raises
    :class:`MissingDependencyError` and an unreachable viewer gives a warning.
    """
    if not deps.has_rerun():
        if required:
            raise MissingDependencyError("rerun-sdk", "record", "visualize='rerun'")
        return None
    target = viewer_url(url)
    if not viewer_reachable(target, timeout):
        if required:
            warnings.warn(f"no Rerun viewer is listening at {target}; running without live "
                          "view (start one with `rerun`, or record to a file)",
                          RuntimeWarning, stacklevel=2)
        return None
    rr = deps.rerun("live viewing")
    stream = rr.RecordingStream(app_id, recording_id=recording_id)
    stream.connect_grpc(target)
    return LiveLogger(stream, rr)


def init_live_from_env(timeout: float = 0.25) -> LiveLogger | None:
    """:func:`init_live` with the id, app and URL set by :func:`live_env` (None if unset)."""
    rid = os.environ.get(ENV_RECORDING_ID)
    if not rid:
        return None
    return init_live(rid, os.environ.get(ENV_APP_ID, "retriever"),
                     url=os.environ.get(ENV_URL), timeout=timeout)


def visualize_mode(value: Any) -> str | None:
    """Normalise a ``visualize=`` option: ``"rerun"``, ``"auto"`` or None (off)."""
    if value in (None, False, "", "off", "none", "stdout"):
        return None
    if value is True:
        return "auto"
    if value in MODES:
        return str(value)
    raise ConfigError(f"visualize={value!r} is not a known viewer",
                      hint="use visualize='rerun', 'auto' or None")


def live_for(visualize: Any, *, recording_id: str | None = None,
             app_id: str = "retriever") -> LiveLogger | None:
    """The live logger a run asked for with ``visualize=`` (None when off or no viewer)."""
    mode = visualize_mode(visualize)
    if mode is None:
        return None
    return init_live(recording_id or new_recording_id(), app_id, required=mode == "rerun")
