"""Live view in Foxglove: a Foxglove WebSocket server fed by every backend's workers.

``visualize="foxglove"`` starts :class:`FoxgloveHub` in the process that starts the run.
It serves the Foxglove WebSocket protocol (subprotocol ``foxglove.websocket.v1``; the
``foxglove.sdk.v1`` name newer apps also offer is accepted) on ``127.0.0.1:8765`` (or
the port given as ``visualize="foxglove:PORT"`` or ``$RETRIEVER_FOXGLOVE_PORT``): it
advertises one channel per output port and one per input port (what each flow sampled,
``/flows/<flow>/in/<port>`` as in the MCAP recording), with the same schemas as the
MCAP recording (:func:`.mcap_io.channel_form`), and sends each subscribed client the
messages of the channels it subscribed to.

Messages come from the workers. Each worker process connects to the hub's relay port
(a loopback TCP port named in ``$RETRIEVER_FOXGLOVE_RELAY``), receives the channel table
and, whenever it changes, the set of channels some client subscribed to. A worker
encodes and sends only values of subscribed channels, from a bounded queue emptied by a
background thread: without a client nothing is encoded, and a slow client makes the
worker drop live-view messages, never wait. The in-process backend writes to the hub
directly (:class:`FoxgloveSink`).

The implementation uses the ``websockets`` package. The official ``foxglove-sdk``
server was evaluated: its version 0.30 refuses clients that offer only the
``foxglove.websocket.v1`` subprotocol, and it cannot take messages from other
processes without the same relay.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import queue
import socket
import struct
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

import msgspec

from retriever.contract.errors import ConfigError, MissingDependencyError
from retriever.ir.model import IR
from retriever.types.registry import to_jsonable

from .fox_known import BY_NAME
from .layout import ChannelSpec, channel_specs, flatten_fields, input_fields, port_types, topic
from .mcap_io import FORM_FOXGLOVE, FORM_JSON, channel_form, numpy_scalar

SUBPROTOCOLS = ("foxglove.websocket.v1", "foxglove.sdk.v1")
DEFAULT_PORT = 8765
ENV_PORT = "RETRIEVER_FOXGLOVE_PORT"
ENV_RELAY = "RETRIEVER_FOXGLOVE_RELAY"
_DATA = struct.Struct("<BIQ")  # opcode 1 (message data), subscription id, timestamp
_RELAY_HEAD = struct.Struct("<IIQ")  # payload length, channel id, log time (ns)
#: Live-view messages a worker keeps for sending before it drops new ones.
WORKER_QUEUE = 256
#: Messages kept per client before the oldest are dropped.
CLIENT_QUEUE = 256


def _websockets() -> tuple[Any, type[Exception]]:
    """The server module and the exception a closed connection raises."""
    try:
        server = importlib.import_module("websockets.asyncio.server")
        closed = importlib.import_module("websockets.exceptions").ConnectionClosed
        return server, closed
    except ImportError:
        raise MissingDependencyError("websockets", "record", "visualize='foxglove'") from None


def port_of(visualize: Any) -> int:
    """The WebSocket port of a ``visualize="foxglove[:PORT]"`` option."""
    text = str(visualize)
    _, _, given = text.partition(":")
    raw = given or os.environ.get(ENV_PORT) or str(DEFAULT_PORT)
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"visualize={visualize!r}: {raw!r} is not a port number",
                          hint="use visualize='foxglove' or 'foxglove:8765'") from None
    if not 0 <= port < 65536:
        raise ConfigError(f"visualize={visualize!r}: port {port} is out of range")
    return port


class _Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.subs: dict[int, int] = {}  # subscription id -> channel id
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(CLIENT_QUEUE)


class FoxgloveHub:
    """A Foxglove WebSocket server for one run, plus the relay its workers feed.

    ``channels`` is ``(spec, form)`` per advertised channel; the channel id is the
    index + 1. Thread-safe: :meth:`publish` may be called from any thread.
    """

    def __init__(self, ir: IR, *, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 name: str = "retriever") -> None:
        ws_server, self._closed_error = _websockets()
        self.name = name
        specs = channel_specs(ir, inputs=True)
        types = {topic(n.id, side, p): tp for n in ir.nodes for side in ("out", "in")
                 for p, tp in port_types(n, side).items()}
        # how each flow's sampled input object maps onto its input ports (for workers)
        self.inputs = {n.id: input_fields(n) for n in ir.nodes if n.input_ports}
        self.specs: list[ChannelSpec] = specs
        self.forms = [channel_form(s, types.get(s.topic, Any)) for s in specs]
        self._clients: set[_Client] = set()
        self._counts = [0] * (len(specs) + 1)  # subscriptions per channel id
        self._relays: set[asyncio.StreamWriter] = set()
        self._lock = threading.Lock()
        self._subscribed: frozenset[int] = frozenset()
        self._loop = asyncio.new_event_loop()
        self._stopped = asyncio.Event()
        ready: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, args=(ws_server, host, port, ready),
                                        name="retriever-foxglove", daemon=True)
        self._thread.start()
        problem = ready.get()
        if problem is not None:
            raise ConfigError(f"the Foxglove live view cannot listen on {host}:{port}: "
                              f"{problem}", hint="pick another port with "
                              "visualize='foxglove:PORT' or $RETRIEVER_FOXGLOVE_PORT")
        self.port: int = self._ws_port
        self.relay_address = f"127.0.0.1:{self._relay_port}"

    # ---------------------------------------------------------------- public API
    @property
    def channel_table(self) -> dict[str, list[Any]]:
        """``{topic: [channel id, form]}`` for workers (form ``foxglove:<schema>``,
        ``value`` or ``json``)."""
        out = {}
        for i, (spec, form) in enumerate(zip(self.specs, self.forms, strict=True), start=1):
            kind = (f"{FORM_FOXGLOVE}:{form.schema_name}" if form.form == FORM_FOXGLOVE
                    else form.form)
            out[spec.topic] = [i, kind]
        return out

    def subscribed(self, channel_id: int) -> bool:
        """Whether some client subscribed to the channel."""
        return channel_id in self._subscribed

    def publish(self, channel_id: int, log_time: int, payload: bytes) -> None:
        """Send one encoded message to the clients subscribed to ``channel_id``."""
        if channel_id in self._subscribed:
            try:
                self._loop.call_soon_threadsafe(self._fan_out, channel_id, log_time, payload)
            except RuntimeError:
                pass  # the server was stopped: nobody to send to

    def env(self) -> dict[str, str]:
        """Environment that makes backend workers feed this hub."""
        return {ENV_RELAY: self.relay_address,
                "RETRIEVER_STEP_OBSERVERS": f"{__name__}:observer_from_env"}

    def close(self) -> None:
        """Stop serving (clients are disconnected)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ server side
    def _main(self, ws_server: Any, host: str, port: int,
              ready: queue.Queue[BaseException | None]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(ws_server, host, port, ready))
        finally:
            self._loop.close()

    async def _serve(self, ws_server: Any, host: str, port: int,
                     ready: queue.Queue[BaseException | None]) -> None:
        try:
            server = await ws_server.serve(self._session, host, port,
                                           subprotocols=list(SUBPROTOCOLS),
                                           compression=None, max_size=2**20)
            relay = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        except OSError as exc:
            ready.put(exc)
            return
        self._ws_port = server.sockets[0].getsockname()[1]
        self._relay_port = relay.sockets[0].getsockname()[1]
        ready.put(None)
        async with server, relay:
            await self._stopped.wait()
            for w in list(self._relays):
                w.close()
            server.close()
            relay.close()

    def _advertisement(self) -> str:
        channels = []
        for i, (spec, form) in enumerate(zip(self.specs, self.forms, strict=True), start=1):
            channels.append({"id": i, "topic": spec.topic, "encoding": "json",
                             "schemaName": form.schema_name, "schemaEncoding": "jsonschema",
                             "schema": json.dumps(form.schema)})
        return json.dumps({"op": "advertise", "channels": channels})

    async def _session(self, ws: Any) -> None:
        client = _Client(ws)
        await ws.send(json.dumps({"op": "serverInfo", "name": self.name, "capabilities": [],
                                  "supportedEncodings": [], "metadata": {},
                                  "sessionId": str(time.time_ns())}))
        await ws.send(self._advertisement())
        self._clients.add(client)
        sender = asyncio.ensure_future(self._send_loop(client))
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self._on_request(client, raw)
        except self._closed_error:
            pass  # the client went away: forget its subscriptions
        finally:
            sender.cancel()
            self._clients.discard(client)
            for cid in client.subs.values():
                self._counts[cid] -= 1
            self._publish_subscriptions()

    def _on_request(self, client: _Client, raw: str) -> None:
        try:
            req = json.loads(raw)
        except ValueError:
            return
        op = req.get("op") if isinstance(req, dict) else None
        try:
            if op == "subscribe":
                for sub in req.get("subscriptions", []):
                    cid, sid = int(sub["channelId"]), int(sub["id"])
                    if 0 < cid < len(self._counts) and sid not in client.subs:
                        client.subs[sid] = cid
                        self._counts[cid] += 1
            elif op == "unsubscribe":
                for sid in req.get("subscriptionIds", []):
                    cid = client.subs.pop(int(sid), 0)
                    if cid:
                        self._counts[cid] -= 1
            else:
                return  # other operations (parameters, services...) are not offered
        except (KeyError, TypeError, ValueError):
            pass  # a malformed request changes nothing after its bad entry
        self._publish_subscriptions()

    def _publish_subscriptions(self) -> None:
        wanted = frozenset(i for i, n in enumerate(self._counts) if n > 0)
        if wanted == self._subscribed:
            return
        self._subscribed = wanted
        line = (json.dumps({"subscribed": sorted(wanted)}) + "\n").encode()
        for w in list(self._relays):
            w.write(line)

    def _fan_out(self, channel_id: int, log_time: int, payload: bytes) -> None:
        for client in self._clients:
            for sid, cid in client.subs.items():
                if cid == channel_id:
                    frame = _DATA.pack(1, sid, log_time) + payload
                    if client.queue.full():
                        client.queue.get_nowait()  # a slow client loses the oldest
                    client.queue.put_nowait(frame)

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                await client.ws.send(frame)
        except self._closed_error:
            pass  # the session ends it

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = {"channels": self.channel_table, "inputs": self.inputs,
                 "subscribed": sorted(self._subscribed)}
        writer.write((json.dumps(hello) + "\n").encode())
        self._relays.add(writer)
        try:
            while True:
                head = await reader.readexactly(_RELAY_HEAD.size)
                size, cid, log_time = _RELAY_HEAD.unpack(head)
                payload = await reader.readexactly(size)
                self._fan_out(cid, log_time, payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._relays.discard(writer)
            writer.close()


# ----------------------------------------------------------------------- encoding

_ENC = msgspec.json.Encoder(enc_hook=numpy_scalar)


def encoder(kind: str, where: str) -> Any:
    """The function turning a value into the message bytes of a channel of ``kind``."""
    if kind.startswith(FORM_FOXGLOVE + ":"):
        to = BY_NAME[kind.split(":", 1)[1]].to
        return lambda v: _ENC.encode(to(v))
    if kind == FORM_JSON:
        return lambda v: _ENC.encode({"json": _ENC.encode(to_jsonable(v, where)).decode()})
    return lambda v: _ENC.encode({"value": to_jsonable(v, where, binary=True)})


class FoxgloveSink:
    """Writes an in-process run's outputs and inputs to a hub (a recorder sink)."""

    def __init__(self, hub: FoxgloveHub, *, owns: bool = True) -> None:
        self.hub = hub
        self._owns = owns
        self._ids = {t: (cid, encoder(kind, t)) for t, (cid, kind) in hub.channel_table.items()}

    def begin_step(self, step: int, now: float) -> None:
        """Nothing to prepare: messages carry the wall-clock time they are sent."""

    def write(self, name: str, value: Any) -> None:
        """Send one port value if a client subscribed to its channel."""
        entry = self._ids.get(name)
        if entry is not None and self.hub.subscribed(entry[0]):
            self.hub.publish(entry[0], time.time_ns(), entry[1](value))

    def end_step(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Stop the hub (when this sink started it)."""
        if self._owns:
            self.hub.close()


class FoxgloveObserver:
    """A step observer (:mod:`retriever.rt.observe`) in a backend worker: sends the
    subscribed outputs and inputs of its flows to the hub's relay, never blocking the
    flows."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=2.0)
        self._sock.settimeout(None)
        self._file = self._sock.makefile("rb")
        hello = json.loads(self._file.readline())
        self._ids: dict[str, tuple[int, Any]] = {
            t: (int(cid), encoder(kind, t)) for t, (cid, kind) in hello["channels"].items()}
        self._subscribed: frozenset[int] = frozenset(hello["subscribed"])
        self._inputs: dict[str, list[list[str]]] = hello.get("inputs", {})
        self._queue: queue.Queue[bytes | None] = queue.Queue(WORKER_QUEUE)
        self.dropped = 0
        self._closed = False
        threading.Thread(target=self._listen, name="retriever-foxglove-subs",
                         daemon=True).start()
        self._sender = threading.Thread(target=self._send, name="retriever-foxglove-send",
                                        daemon=True)
        self._sender.start()

    def on_step(self, flow: str, step: int, now: float, inputs: Any,
                message: Mapping[str, Any] | None) -> None:
        """Queue the flow's subscribed output and input values (dropped when the queue
        is full)."""
        if not self._subscribed:
            return
        if message:
            self._queue_values(flow, "out", message)
        fields = self._inputs.get(flow)
        if fields and inputs is not None:
            self._queue_values(flow, "in", flatten_fields(fields, inputs))

    def _queue_values(self, flow: str, side: str, values: Mapping[str, Any]) -> None:
        for port, value in values.items():
            entry = self._ids.get(topic(flow, side, port))
            if value is None or entry is None or entry[0] not in self._subscribed:
                continue
            payload = entry[1](value)
            try:
                self._queue.put_nowait(_RELAY_HEAD.pack(len(payload), entry[0], time.time_ns())
                                       + payload)
            except queue.Full:
                self.dropped += 1

    def _listen(self) -> None:
        try:
            for line in self._file:
                self._subscribed = frozenset(json.loads(line).get("subscribed", ()))
        except (OSError, ValueError):
            pass
        self._subscribed = frozenset()  # the hub went away: stop encoding

    def _send(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            try:
                self._sock.sendall(frame)
            except OSError:
                self._subscribed = frozenset()
                return

    def close(self) -> None:
        """Send what is queued (at most 2 s) and disconnect."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=2.0)
        except queue.Full:
            pass
        self._sender.join(timeout=2.0)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def observer_from_env() -> FoxgloveObserver | None:
    """The factory named in ``$RETRIEVER_STEP_OBSERVERS`` for the Foxglove live view."""
    address = os.environ.get(ENV_RELAY)
    if not address:
        return None
    try:
        return FoxgloveObserver(address)
    except (OSError, ValueError) as exc:
        warnings.warn(f"the Foxglove live view at {address} cannot be reached ({exc}); "
                      "this worker runs without it", RuntimeWarning, stacklevel=2)
        return None
