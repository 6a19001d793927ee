"""``.mcap`` recordings through the ``mcap`` package, laid out the way Foxglove expects.

One channel per port (topic ``/flows/<flow>/<side>/<port>``), message encoding
``json``, schema encoding ``jsonschema``. What a message holds depends on the port's
declared type (:func:`channel_form`):

* a type with a well-known Foxglove schema (``Image`` -> ``foxglove.RawImage``, ...,
  see :mod:`.fox_known`): that message, under that schema name, so Foxglove's image and
  3D panels show it;
* a type Foxglove's JSON Schema parser can describe (:mod:`.fox_schema`): the object
  ``{"value": <JSON form>}`` where the JSON form is
  :func:`retriever.types.registry.to_jsonable` (numpy arrays as dtype + shape + base64
  bytes, so they come back exactly);
* anything else (``Any``, ``dict[str, X]``, mixed unions ...): ``{"json": <JSON text>}``.

The file is chunked (zstd; a chunk is closed after the message that takes it past
:data:`CHUNK_SIZE` bytes before compression, so it exceeds that by at most the size of
its last message) with message and chunk indexes, statistics and a summary, as ROS 2 bags
and the Foxglove SDK write them. A message's ``sequence`` is the step index; its log
and publish time are wall-clock nanoseconds: the recording's start
(``log_time_origin_ns`` in the header) plus the step time. The open chunk is closed
and pushed to disk at least every flush interval (or after every step), so a process
killed mid-run leaves whole chunks followed by at most one partial record; the reader
keeps everything before it.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

from retriever.types.errors import JsonCodecError
from retriever.types.registry import from_jsonable, to_jsonable

from . import deps
from .errors import RecordingError
from .fox_known import BY_NAME, known_form
from .fox_schema import flat_schema, text_schema, value_schema
from .layout import ChannelSpec, check_header
from .model import Channel, Recording, Sample

PROFILE = "retriever"
METADATA_NAME = "retriever"
MCAP_MAGIC = b"\x89MCAP0\r\n"
#: Uncompressed bytes after which a chunk is closed (as the Foxglove SDK and ROS 2 do).
CHUNK_SIZE = 4 * 1024 * 1024
_ARRAY_KEYS = frozenset(("dtype", "shape", "data"))
#: How a channel's messages hold the value (the channel's ``form`` metadata).
FORM_FOXGLOVE, FORM_VALUE, FORM_JSON = "foxglove", "value", "json"


@dataclass(frozen=True)
class ChannelForm:
    """How one port's values are written: the schema (name, JSON Schema), the form
    (:data:`FORM_FOXGLOVE`, :data:`FORM_VALUE` or :data:`FORM_JSON`) and the function
    turning a value into the message object (bytes-like leaves become base64)."""

    schema_name: str
    schema: dict[str, Any]
    form: str
    message: Callable[[Any], Any]


def channel_form(spec: ChannelSpec, tp: Any) -> ChannelForm:
    """The form of the channel of ``spec`` for a port declared as ``tp``."""
    known = known_form(tp)
    if known is not None:
        return ChannelForm(known.name, known.schema, FORM_FOXGLOVE, known.to)
    description = f"port {spec.port!r} ({spec.side}) of flow {spec.flow!r}: {spec.type}"
    inner = flat_schema(tp)
    where = spec.topic
    if inner is not None:
        def value(v: Any) -> Any:
            # plain scalars (the bulk of small messages) are their own JSON form; a
            # float is unless it is NaN or infinite (then ``v - v`` is not 0.0)
            t = type(v)
            if t is int or t is str or t is bool or (t is float and v - v == 0.0):
                return {"value": v}
            return {"value": to_jsonable(v, where, binary=True)}
        return ChannelForm(spec.type, value_schema(spec.topic, description, inner), FORM_VALUE,
                           value)

    def text(v: Any) -> Any:
        return {"json": _TEXT.encode(to_jsonable(v, where)).decode()}
    return ChannelForm(spec.type, text_schema(spec.topic, description), FORM_JSON, text)


def channel_schema(spec: ChannelSpec, tp: Any) -> dict[str, Any]:
    """The JSON Schema of one channel's messages."""
    return channel_form(spec, tp).schema


def numpy_scalar(obj: Any) -> Any:
    """msgspec's hook for numpy scalars (plain Python numbers in JSON)."""
    # to_jsonable passes numpy float64 (a float subclass) through as is.
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON")


_TEXT = msgspec.json.Encoder(enc_hook=numpy_scalar)


# A Message record: opcode, record length, channel id, sequence, log time, publish time.
_MESSAGE_HEAD = struct.Struct("<BQHIQQ")
_MESSAGE_OPCODE = 0x05
_MESSAGE_FIXED = 22  # bytes of a Message record body before its data


def _fast_path(writer: Any) -> tuple[Any, Any, Any] | None:
    """The open chunk's builder, the statistics and the MessageIndex record type of a
    chunking ``mcap`` writer, when this version of mcap has them (else None: batches go
    through ``add_message``)."""
    builder = getattr(writer, "_Writer__chunk_builder", None)
    stats = getattr(writer, "_Writer__statistics", None)
    records = deps.mcap("writing .mcap recordings", "records")
    buf = getattr(getattr(builder, "record_writer", None), "_buffer", None)
    if (builder is None or stats is None or buf is None
            or not hasattr(builder, "message_indices") or not hasattr(builder, "num_messages")
            or not hasattr(stats, "channel_message_counts")):
        return None
    return builder, stats, _packed_index(records.MessageIndex)


_PACKED_INDEX: dict[type, type] = {}
_MESSAGE_INDEX_OPCODE = 0x07


def _packed_index(base: type) -> type:
    """``base`` (mcap's MessageIndex record) writing its entries with one ``struct``
    call instead of two calls per message (a fifth of the writer's time for small
    messages); the bytes are the same."""
    cls = _PACKED_INDEX.get(base)
    if cls is None:
        def write(self: Any, stream: Any) -> None:
            entries = self.records
            stream.start_record(_MESSAGE_INDEX_OPCODE)
            stream.write(struct.pack(f"<HI{2 * len(entries)}Q", self.channel_id,
                                     16 * len(entries), *itertools.chain(*entries)))
            stream.finish_record()
        cls = _PACKED_INDEX[base] = type("PackedMessageIndex", (base,), {"write": write})
    return cls


def _ns(t: float) -> int:
    return max(0, round(t * 1e9))


class McapWriter:
    """Writes the samples of a run to one chunked, zstd-compressed ``.mcap`` file."""

    def __init__(self, path: Path, meta: Mapping[str, Any], specs: Iterable[ChannelSpec],
                 types: Mapping[str, Any], *, flush_every_step: bool = True,
                 flush_interval: float = 0.5, chunk_size: int = CHUNK_SIZE,
                 compression: str = "zstd") -> None:
        mw = deps.mcap("writing .mcap recordings", "writer")
        self.path = path
        self._every_step = flush_every_step
        self._interval = flush_interval
        self._last_flush = time.monotonic()
        self._origin = int(meta.get("log_time_origin_ns", 0))
        try:
            self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(path, f"cannot be created: {exc.strerror or exc}",
                                 hint="check that the directory exists and is writable",
                                 code="RET809") from None
        kind = {"zstd": mw.CompressionType.ZSTD, "lz4": mw.CompressionType.LZ4,
                "none": mw.CompressionType.NONE}[compression]
        self._w = mw.Writer(self._fh, chunk_size=chunk_size, compression=kind,
                            enable_data_crcs=True)
        self._w.start(profile=PROFILE, library=f"retriever {_version()}")
        schemas: dict[tuple[str, bytes], int] = {}
        self._channels: dict[str, tuple[int, Callable[[Any], Any]]] = {}
        for spec in specs:
            form = channel_form(spec, types.get(spec.topic, Any))
            data = json.dumps(form.schema, sort_keys=True).encode()
            sid = schemas.get((form.schema_name, data))
            if sid is None:
                sid = self._w.register_schema(name=form.schema_name, encoding="jsonschema",
                                              data=data)
                schemas[(form.schema_name, data)] = sid
            cid = self._w.register_channel(
                topic=spec.topic, message_encoding="json", schema_id=sid,
                metadata={"flow": spec.flow, "side": spec.side, "port": spec.port,
                          "type": spec.type, "form": form.form})
            self._channels[spec.topic] = (cid, form.message)
        # The header goes before the first chunk, so a cut-off file still names its
        # channels' owners and the log-time origin.
        self._w.add_metadata(METADATA_NAME, {"header": json.dumps(dict(meta))})
        self._fh.flush()
        self._step = 0
        self._now = self._origin
        self._enc = msgspec.json.Encoder(enc_hook=numpy_scalar)
        self._closed = False
        self._chunk_size = chunk_size
        self._fast = _fast_path(self._w)

    def begin_step(self, step: int, now: float) -> None:
        """Remember the step index and time of the samples that follow."""
        self._step = step
        self._now = self._origin + _ns(now)

    def write(self, topic: str, value: Any) -> None:
        """Write one port value as a JSON message."""
        cid, message = self._channels[topic]
        data = self._enc.encode(message(value))
        self._w.add_message(cid, log_time=self._now, data=data, publish_time=self._now,
                            sequence=self._step)

    def write_rows(self, rows: list[tuple[str, int, float, Any]]) -> None:
        """Write many values (``(topic, step, time, value)``, in step order)."""
        if self._fast is None:
            add = self._w.add_message
            for name, step, now, value in rows:
                cid, message = self._channels[name]
                t = self._origin + _ns(now)
                add(cid, log_time=t, data=self._enc.encode(message(value)), publish_time=t,
                    sequence=step)
            return
        self._append_rows(rows)
        if self._fast[0].count > self._chunk_size:
            self.flush()

    def _append_rows(self, rows: list[tuple[str, int, float, Any]]) -> None:
        # The per-message path of mcap's writer costs ~10 us a message; batches of
        # scalars are packed here as Message records straight into the open chunk, with
        # its message index and the file statistics kept as the writer keeps them.
        builder, stats, index_type = self._fast  # type: ignore[misc]
        buf = builder.record_writer._buffer
        offset = buf.tell()
        indices = builder.message_indices
        counts = stats.channel_message_counts
        encode = self._enc.encode
        channels = self._channels
        origin = self._origin
        pack = _MESSAGE_HEAD.pack
        parts: list[bytes] = []
        add = parts.append
        last: float | None = None
        t = lo = hi = origin
        for i, (name, step, now, value) in enumerate(rows):
            if now != last:
                last, t = now, origin + _ns(now)
                if i == 0 or t < lo:
                    lo = t
                hi = max(hi, t)
            cid, message = channels[name]
            data = encode(message(value))
            index = indices.get(cid)
            if index is None:
                index = indices[cid] = index_type(channel_id=cid, records=[])
            index.records.append((t, offset))
            head = pack(_MESSAGE_OPCODE, _MESSAGE_FIXED + len(data), cid, step, t, t)
            add(head)
            add(data)
            offset += len(head) + len(data)
            counts[cid] += 1
        if not parts:
            return
        buf.write(b"".join(parts))
        n = len(rows)
        if builder.num_messages == 0:
            builder.message_start_time, builder.message_end_time = lo, hi
        else:
            builder.message_start_time = min(lo, builder.message_start_time)
            builder.message_end_time = max(hi, builder.message_end_time)
        builder.num_messages += n
        if stats.message_count == 0:
            stats.message_start_time = lo
        else:
            stats.message_start_time = min(lo, stats.message_start_time)
        stats.message_end_time = max(hi, stats.message_end_time)
        stats.message_count += n

    def end_step(self) -> None:
        """Push to the file after every step, or when the flush interval passed."""
        if self._every_step or time.monotonic() - self._last_flush >= self._interval:
            self.flush()

    def flush(self, wait: bool = True) -> None:
        """Close the open chunk and push it to the file (``wait`` is accepted for
        symmetry with the Rerun writer)."""
        self._w.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write the last chunk, the summary and the footer, and close the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._w.finish()
        finally:
            self._fh.close()


# ------------------------------------------------------------------------- reading


class _Exact:
    """A reader that refuses short reads (so a cut-off record is never half-parsed)."""

    def __init__(self, fh: IO[bytes], size: int, end_of_file: type[Exception]) -> None:
        self._fh = fh
        self._left = size
        self._eof = end_of_file

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._left:
            raise self._eof()
        data = self._fh.read(n)
        if len(data) < n:
            raise self._eof()
        self._left -= n
        return data


def _revive(data: Any) -> Any:
    """Plain JSON data with array objects turned back into numpy arrays (untyped ports)."""
    if isinstance(data, dict):
        if set(data) == _ARRAY_KEYS and isinstance(data["dtype"], str):
            try:
                return from_jsonable(data, np.ndarray)
            except JsonCodecError:
                return data
        return {k: _revive(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_revive(v) for v in data]
    return data


def _version() -> str:
    try:
        return importlib.metadata.version("pyretriever")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def read_mcap(path: Path) -> Recording:
    """Read a retriever ``.mcap`` (a cut-off file up to its last whole record)."""
    sr = deps.mcap("reading .mcap recordings", "stream_reader")
    rec = deps.mcap("reading .mcap recordings", "records")
    exc_mod = deps.mcap("reading .mcap recordings", "exceptions")
    size = path.stat().st_size
    meta: dict[str, Any] | None = None
    profile = None
    schemas: dict[int, Any] = {}
    channels: dict[int, Channel] = {}
    extract: dict[int, Callable[[Any], Any]] = {}
    samples: dict[str, list[Sample]] = {}
    truncated = False
    origin = 0
    with open(path, "rb") as fh:
        reader = sr.StreamReader(_Exact(fh, size, exc_mod.EndOfFile), validate_crcs=True,
                                 record_size_limit=None)
        try:
            for r in reader.records:
                if isinstance(r, rec.Header):
                    profile = r.profile
                elif isinstance(r, rec.Metadata) and r.name == METADATA_NAME:
                    meta = _json(path, r.metadata.get("header", ""), "the header")
                    origin = _origin(meta)
                elif isinstance(r, rec.Schema):
                    schemas[r.id] = r
                elif isinstance(r, rec.Channel) and r.id not in channels:
                    channels[r.id] = _channel(path, r, schemas.get(r.schema_id))
                    extract[r.id] = _extractor(r, schemas.get(r.schema_id))
                    samples.setdefault(r.topic, [])
                elif isinstance(r, rec.Message):
                    if meta is None:
                        break  # messages before any retriever header: a foreign file
                    chan = channels.get(r.channel_id)
                    if chan is None:
                        raise RecordingError(path, f"a message refers to unknown channel "
                                             f"{r.channel_id}", code="RET806")
                    body = _json(path, r.data, f"a message on {chan.topic}")
                    try:
                        value = extract[r.channel_id](body)
                    except (KeyError, TypeError, ValueError, AttributeError):
                        raise RecordingError(path, f"a message on {chan.topic} does not have "
                                             "the form its channel declares",
                                             code="RET806") from None
                    samples[chan.topic].append(Sample(r.sequence, (r.log_time - origin) / 1e9,
                                                      value))
        except exc_mod.EndOfFile:
            truncated = True
        except sr.CRCValidationError as exc:
            raise RecordingError(path, f"is damaged: {exc}", code="RET806") from None
        except exc_mod.McapError as exc:
            raise RecordingError(path, f"is damaged: {exc}", code="RET806") from None
    if profile is None:
        raise RecordingError(path, "was cut off before its MCAP header ended", code="RET806")
    if meta is None:
        if truncated:
            raise RecordingError(path, "was cut off before the retriever header was written",
                                 code="RET806")
        raise RecordingError(path, f"is an MCAP file (profile {profile!r}) but not a retriever "
                             "recording (no retriever metadata)", code="RET805",
                             hint="record it with retriever (pipe.record / run(record=...))")
    problem = check_header(meta)
    if problem:
        raise RecordingError(path, problem, code="RET805")
    by_topic = {c.topic: c for c in channels.values()}
    for c in meta["channels"]:
        by_topic.setdefault(c["topic"], Channel(c["topic"], c["flow"], c["side"], c["port"],
                                                c.get("type", "Any")))
        samples.setdefault(c["topic"], [])
    for topic, lst in samples.items():
        lst.sort(key=lambda s: s.step)
        for s in lst:
            by_topic[topic].seen(s.time)

    def decode(payload: Any, tp: Any) -> Any:
        if tp is Any:
            return _revive(payload)
        try:
            return from_jsonable(payload, tp)
        except JsonCodecError as exc:
            raise RecordingError(path, f"a value does not fit the port type: {exc.message}",
                                 code="RET811") from None

    return Recording(path=path, format="mcap", meta=meta, channels=by_topic, samples=samples,
                     decoder=decode, truncated=truncated)


def _json(path: Path, data: str | bytes, what: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RecordingError(path, f"{what} is not valid JSON ({exc})", code="RET806") from None


def _channel(path: Path, r: Any, schema: Any) -> Channel:
    md = r.metadata or {}
    parsed = None
    if schema is not None and schema.encoding == "jsonschema":
        parsed = _json(path, schema.data, f"the schema of {r.topic}")
    return Channel(r.topic, md.get("flow", ""), md.get("side", ""), md.get("port", ""),
                   md.get("type", schema.name if schema is not None else "Any"), parsed)


def _origin(meta: Any) -> int:
    value = meta.get("log_time_origin_ns", 0) if isinstance(meta, dict) else 0
    return value if isinstance(value, int) else 0


def _body_value(body: Any) -> Any:
    return body["value"]


def _body_text(body: Any) -> Any:
    return msgspec.json.decode(body["json"])


def _extractor(r: Any, schema: Any) -> Callable[[Any], Any]:
    """What turns a message of channel ``r`` into the JSON form of its value."""
    form = (r.metadata or {}).get("form", FORM_VALUE)
    if form == FORM_FOXGLOVE and schema is not None and schema.name in BY_NAME:
        return BY_NAME[schema.name].back
    if form == FORM_JSON:
        return _body_text
    return _body_value
