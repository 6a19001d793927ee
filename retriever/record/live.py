"""Live viewing in the Rerun viewer, shared by every backend.

A viewer is used only when one is reachable: the gRPC port is probed with a short TCP
connect first, so a run without a viewer (CI, a headless robot) never waits on one.
Processes that should appear in one viewer session use the same recording id: the
parent calls :func:`new_recording_id` (or :func:`live_env`) and hands it to every
worker, and each worker calls :func:`init_live` (or :func:`init_live_from_env`) and logs
its flows' messages with :meth:`LiveLogger.log_message`.

``visualize="foxglove"`` is served by :mod:`.fox_live` instead; :func:`live_for` (runs
in this process) and :func:`live_session` (runs on process backends) pick the viewer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from retriever.contract.errors import ConfigError, MissingDependencyError
from retriever.ir.model import IR

from . import deps, visual
from .fox_live import FoxgloveHub, FoxgloveSink, port_of
from .layout import channel_specs, port_types
from .layout import topic as port_topic
from .recorder import Sink
from .rerun_views import TransformTree, blueprint
from .rrd import entity_path

DEFAULT_URL = "rerun+http://127.0.0.1:9876/proxy"
ENV_URL = "RETRIEVER_RERUN_URL"
ENV_RECORDING_ID = "RETRIEVER_RERUN_RECORDING_ID"
ENV_APP_ID = "RETRIEVER_RERUN_APP_ID"
MODES = ("rerun", "auto", "foxglove")
log = logging.getLogger("retriever.live")


def viewer_url(url: str | None = None) -> str:
    """The viewer URL: ``url``, else ``$RETRIEVER_RERUN_URL``, else the local default."""
    return url or os.environ.get(ENV_URL) or DEFAULT_URL


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(3) + b"\x04" + bytes(5)


def viewer_reachable(url: str | None = None, timeout: float = 0.25) -> bool:
    """Whether a gRPC server (a Rerun viewer or proxy) answers at the viewer URL.

    Opens a TCP connection and sends the HTTP/2 connection preface; only a server that
    answers with an HTTP/2 SETTINGS frame within ``timeout`` seconds counts, so a port
    held by something else never makes the SDK wait on it.
    """
    parsed = urlparse(viewer_url(url))
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 9876
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_H2_PREFACE)
            head = b""
            while len(head) < 9:
                part = sock.recv(9 - len(head))
                if not part:
                    return False
                head += part
    except OSError:
        return False
    return head[3] == 0x04  # frame type SETTINGS


def new_recording_id() -> str:
    """A fresh recording id to share between the processes of one run."""
    return str(uuid.uuid4())


def live_env(recording_id: str, app_id: str = "retriever",
             url: str | None = None) -> dict[str, str]:
    """Environment variables that make :func:`init_live_from_env` join one recording."""
    return {ENV_RECORDING_ID: recording_id, ENV_APP_ID: app_id, ENV_URL: viewer_url(url)}


class LiveLogger:
    """Streams port values to a viewer (what they look like only, not exact bytes)."""

    #: Seconds ``close`` waits for the viewer to take pending data.
    close_timeout = 2.0

    def __init__(self, stream: Any, rr: Any) -> None:
        self.stream = stream
        self._rr = rr
        self._entities: dict[str, str] = {}
        self._trees: dict[str, TransformTree] = {}  # frame trees of transform-list ports
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
        visual.log_value(self.stream, self._rr, entity, value, self._trees)

    def end_step(self) -> None:
        """Nothing to do: the SDK batches and sends in the background."""

    def show_layout(self, ir: IR) -> None:
        """Send the blueprint of ``ir``'s recording (camera, 3D scene, plots; see
        :func:`.rerun_views.blueprint`) so the viewer opens with it."""
        send_layout(self.stream, self._rr, ir)

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
        """Send what is pending (at most ``close_timeout`` seconds) and disconnect."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stream.flush(timeout_sec=self.close_timeout)
        except RuntimeError:  # the viewer stopped taking data: drop it, do not hang
            warnings.warn("the Rerun viewer did not take the last data in time; live view "
                          "data was dropped", RuntimeWarning, stacklevel=2)
            # Rerun flushes every stream at exit; with an unresponsive viewer that would
            # block the process forever.
            self._rr.unregister_shutdown()
            return
        self.stream.disconnect()


def send_layout(stream: Any, rr: Any, ir: IR) -> None:
    """Send the blueprint of a run of ``ir`` on ``stream`` (nothing when no port has a
    view of its own)."""
    types = {port_topic(n.id, "out", p): tp for n in ir.nodes
             for p, tp in port_types(n, "out").items()}
    view = blueprint(rr, channel_specs(ir, inputs=False), types,
                     lambda t: entity_path(rr, t))
    if view is not None:
        stream.send_blueprint(view)


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
    if isinstance(value, str) and value.startswith("foxglove:"):
        return "foxglove"
    raise ConfigError(f"visualize={value!r} is not a known viewer",
                      hint="use visualize='rerun', 'foxglove' (or 'foxglove:PORT'), 'auto' "
                           "or None")


def live_for(visualize: Any, *, recording_id: str | None = None,
             app_id: str = "retriever", ir: IR | None = None) -> Sink | None:
    """The live view a run asked for with ``visualize=`` (None when off or, for Rerun,
    no viewer answers). With ``ir`` a Rerun viewer gets the run's layout; the Foxglove
    view needs it for its channels."""
    mode = visualize_mode(visualize)
    if mode is None:
        return None
    if mode == "foxglove":
        if ir is None:
            raise ConfigError("visualize='foxglove' needs the pipeline's channels",
                              hint="pass ir= (pipe.run and pipe.record do)")
        hub = FoxgloveHub(ir, port=port_of(visualize), name=app_id)
        log.info("Foxglove live view at ws://127.0.0.1:%d", hub.port)
        return FoxgloveSink(hub)
    logger = init_live(recording_id or new_recording_id(), app_id, required=mode == "rerun")
    if logger is not None and ir is not None:
        logger.show_layout(ir)
    return logger


class LiveObserver:
    """A step observer (:mod:`retriever.rt.observe`) that shows outputs in the viewer."""

    def __init__(self, logger: LiveLogger) -> None:
        self.logger = logger

    def on_step(self, flow: str, step: int, now: float, inputs: Any,
                message: Mapping[str, Any] | None) -> None:
        """Show the message a flow published."""
        self.logger.log_message(flow, "out", message, step=step, now=now)

    def close(self) -> None:
        """Flush and disconnect."""
        self.logger.close()


OBSERVER_SPEC = f"{__name__}:observer_from_env"


def observer_from_env() -> LiveObserver | None:
    """The factory named in ``$RETRIEVER_STEP_OBSERVERS`` for live viewing in workers."""
    logger = init_live_from_env()
    return LiveObserver(logger) if logger is not None else None


class LiveSession:
    """The live view of a run on a process backend: the environment its workers need
    (:attr:`env`) and what to stop when the run ends (:meth:`close`)."""

    def __init__(self, env: dict[str, str], hub: FoxgloveHub | None = None) -> None:
        self.env = env
        self.hub = hub

    def close(self) -> None:
        """Stop the Foxglove server (nothing for Rerun: the workers disconnect)."""
        if self.hub is not None:
            self.hub.close()


def live_session(visualize: Any, app_id: str = "retriever", ir: IR | None = None
                 ) -> LiveSession:
    """The live view of a run of ``ir`` on a process backend (``visualize=``)."""
    if visualize_mode(visualize) == "foxglove":
        if ir is None:
            raise ConfigError("visualize='foxglove' needs the pipeline's channels")
        hub = FoxgloveHub(ir, port=port_of(visualize), name=app_id)
        log.info("Foxglove live view at ws://127.0.0.1:%d", hub.port)
        return LiveSession(hub.env(), hub)
    return LiveSession(worker_env(visualize, app_id, ir))


def worker_env(visualize: Any, app_id: str = "retriever", ir: IR | None = None
               ) -> dict[str, str]:
    """Environment that makes every backend worker stream into one shared recording
    (empty when viewing is off or no viewer answers). With ``ir`` the parent sends the
    layout of the run to the viewer first."""
    mode = visualize_mode(visualize)
    if mode is None or mode == "foxglove":
        return {}
    if not deps.has_rerun():
        if mode == "rerun":
            raise MissingDependencyError("rerun-sdk", "record", "visualize='rerun'")
        return {}
    if not viewer_reachable(viewer_url()):
        if mode == "rerun":
            warnings.warn(f"no Rerun viewer is listening at {viewer_url()}; running without "
                          "live view", RuntimeWarning, stacklevel=2)
        return {}
    recording_id = new_recording_id()
    if ir is not None:
        rr = deps.rerun("live viewing")
        stream = rr.RecordingStream(app_id, recording_id=recording_id)
        stream.connect_grpc(viewer_url())
        send_layout(stream, rr, ir)
        LiveLogger(stream, rr).close()
    return {**live_env(recording_id, app_id), "RETRIEVER_STEP_OBSERVERS": OBSERVER_SPEC}
