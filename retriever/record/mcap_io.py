"""``.mcap`` recordings through the ``mcap`` package: JSON messages with JSON Schemas.

One channel per port (topic ``/flows/<flow>/<side>/<port>``), message encoding
``json``, schema encoding ``jsonschema``: what Foxglove decodes without plugins. Each
message is the object ``{"value": <JSON form>}`` (Foxglove wants objects at the top),
where the JSON form is :func:`retriever.types.registry.to_jsonable` (numpy arrays as
dtype + shape + base64 bytes, so they come back exactly). A message's ``sequence`` is
the step index and its log/publish time the step time in nanoseconds.

The file is written unchunked and pushed to disk at least every flush interval (or after
every step), so a process killed mid-run leaves whole records followed by at most one
partial one; the reader keeps everything before it. Batches of scalar values
(:meth:`McapWriter.write_rows`) are packed as Message records in one go, bypassing the
per-message overhead of ``mcap.writer.Writer.add_message``.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import struct
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

from retriever.types.errors import JsonCodecError, SchemaError
from retriever.types.registry import DRAFT, from_jsonable, json_schema, to_jsonable

from . import deps
from .errors import RecordingError
from .layout import ChannelSpec, check_header
from .model import Channel, Recording, Sample

PROFILE = "retriever"
METADATA_NAME = "retriever"
MCAP_MAGIC = b"\x89MCAP0\r\n"
_ARRAY_KEYS = frozenset(("dtype", "shape", "data"))
# A Message record: opcode, record length, channel id, sequence, log time, publish time.
_MESSAGE_HEAD = struct.Struct("<BQHIQQ")
_MESSAGE_OPCODE = 0x05
_MESSAGE_FIXED = 22  # bytes of a Message record body before its data


def channel_schema(spec: ChannelSpec, tp: Any) -> dict[str, Any]:
    """The JSON Schema of one channel's messages (``{"value": ...}``)."""
    try:
        inner = json_schema(tp)
    except SchemaError:
        inner = {}
    inner.pop("$schema", None)
    defs = inner.pop("$defs", {})
    if _refers_to_root(inner) or any(_refers_to_root(d) for d in defs.values()):
        defs = {k: _retarget(v) for k, v in defs.items()}
        defs["value"] = _retarget(inner)
        inner = {"$ref": "#/$defs/value"}
    root: dict[str, Any] = {
        "$schema": DRAFT, "title": spec.topic, "type": "object",
        "description": f"port {spec.port!r} ({spec.side}) of flow {spec.flow!r}: {spec.type}",
        "properties": {"value": inner}, "required": ["value"],
        "additionalProperties": False}
    if defs:
        root["$defs"] = defs
    return root


def _refers_to_root(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == "#" or any(_refers_to_root(v) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to_root(v) for v in node)
    return False


def _retarget(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("$ref") == "#":
            return {**node, "$ref": "#/$defs/value"}
        return {k: _retarget(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def _ns(t: float) -> int:
    return max(0, round(t * 1e9))


class McapWriter:
    """Writes the samples of a run to one ``.mcap`` file."""

    def __init__(self, path: Path, meta: Mapping[str, Any], specs: Iterable[ChannelSpec],
                 types: Mapping[str, Any], *, flush_every_step: bool = True,
                 flush_interval: float = 0.5) -> None:
        mw = deps.mcap("writing .mcap recordings", "writer")
        self.path = path
        self._every_step = flush_every_step
        self._interval = flush_interval
        self._last_flush = time.monotonic()
        try:
            self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(path, f"cannot be created: {exc.strerror or exc}",
                                 hint="check that the directory exists and is writable",
                                 code="RET809") from None
        self._w = mw.Writer(self._fh, use_chunking=False,
                            compression=mw.CompressionType.NONE, enable_data_crcs=True)
        self._w.start(profile=PROFILE, library=f"retriever {_version()}")
        schemas: dict[tuple[str, bytes], int] = {}
        self._channels: dict[str, int] = {}
        for spec in specs:
            data = json.dumps(channel_schema(spec, types.get(spec.topic, Any)),
                              sort_keys=True).encode()
            sid = schemas.get((spec.type, data))
            if sid is None:
                sid = self._w.register_schema(name=spec.type, encoding="jsonschema", data=data)
                schemas[(spec.type, data)] = sid
            self._channels[spec.topic] = self._w.register_channel(
                topic=spec.topic, message_encoding="json", schema_id=sid,
                metadata={"flow": spec.flow, "side": spec.side, "port": spec.port,
                          "type": spec.type})
        # add_metadata also pushes the schema and channel records (buffered by the
        # writer until then) to the file, so batches can be appended right after.
        self._w.add_metadata(METADATA_NAME, {"header": json.dumps(dict(meta))})
        self._fh.flush()
        self._step = 0
        self._now = 0
        self._enc = msgspec.json.Encoder(enc_hook=_numpy_scalar)
        self._closed = False
        # The writer keeps its statistics and data-section CRC privately; batches update
        # them directly when this mcap version has them, else go through add_message.
        self._stats = getattr(self._w, "_Writer__statistics", None)
        self._raw = (self._stats is not None
                     and isinstance(getattr(self._w, "_Writer__data_section_crc", None), int))

    def begin_step(self, step: int, now: float) -> None:
        """Remember the step index and time of the samples that follow."""
        self._step = step
        self._now = _ns(now)

    def write(self, topic: str, value: Any) -> None:
        """Write one port value as a JSON message."""
        # bytes and array data stay binary: msgspec writes them as base64 itself
        data = self._enc.encode({"value": to_jsonable(value, topic, binary=True)})
        self._w.add_message(self._channels[topic], log_time=self._now, data=data,
                            publish_time=self._now, sequence=self._step)

    def write_rows(self, rows: list[tuple[str, int, float, Any]]) -> None:
        """Write many scalar values (``(topic, step, time, value)``, in step order)."""
        encode = self._enc.encode
        channels = self._channels
        if not self._raw:
            for name, step, now, value in rows:
                self._step, self._now = step, _ns(now)
                self.write(name, value)
            return
        pack = _MESSAGE_HEAD.pack
        parts: list[bytes] = []
        add = parts.append
        counts = self._stats.channel_message_counts  # type: ignore[union-attr]
        last_now: float | None = None
        t = lo = hi = -1
        for name, step, now, value in rows:
            if type(value) is float and not math.isfinite(value):
                value = to_jsonable(value, name)
            data = encode({"value": value})
            if now != last_now:
                last_now, t = now, _ns(now)
                if lo < 0 or t < lo:
                    lo = t
                hi = max(hi, t)
            cid = channels[name]
            add(pack(_MESSAGE_OPCODE, _MESSAGE_FIXED + len(data), cid, step, t, t))
            add(data)
            counts[cid] += 1
        if not parts:
            return
        blob = b"".join(parts)
        w = self._w
        w._Writer__data_section_crc = zlib.crc32(
            blob, w._Writer__data_section_crc)
        self._fh.write(blob)
        st = self._stats
        st.message_start_time = (lo if st.message_count == 0  # type: ignore[union-attr]
                                 else min(lo, st.message_start_time))  # type: ignore[union-attr]
        st.message_end_time = max(hi, st.message_end_time)  # type: ignore[union-attr]
        st.message_count += len(rows)  # type: ignore[union-attr]

    def end_step(self) -> None:
        """Push to the file after every step, or when the flush interval passed."""
        if self._every_step or time.monotonic() - self._last_flush >= self._interval:
            self.flush()

    def flush(self, wait: bool = True) -> None:
        """Push what was written to the file (``wait`` is accepted for symmetry)."""
        self._fh.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write the summary and footer and close the file."""
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


def _numpy_scalar(obj: Any) -> Any:
    # to_jsonable passes numpy float64 (a float subclass) through as is.
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON")


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
    samples: dict[str, list[Sample]] = {}
    truncated = False
    with open(path, "rb") as fh:
        reader = sr.StreamReader(_Exact(fh, size, exc_mod.EndOfFile), validate_crcs=True,
                                 record_size_limit=None)
        try:
            for r in reader.records:
                if isinstance(r, rec.Header):
                    profile = r.profile
                elif isinstance(r, rec.Metadata) and r.name == METADATA_NAME:
                    meta = _json(path, r.metadata.get("header", ""), "the header")
                elif isinstance(r, rec.Schema):
                    schemas[r.id] = r
                elif isinstance(r, rec.Channel) and r.id not in channels:
                    channels[r.id] = _channel(path, r, schemas.get(r.schema_id))
                    samples.setdefault(r.topic, [])
                elif isinstance(r, rec.Message):
                    if meta is None:
                        break  # messages before any retriever header: a foreign file
                    chan = channels.get(r.channel_id)
                    if chan is None:
                        raise RecordingError(path, f"a message refers to unknown channel "
                                             f"{r.channel_id}", code="RET806")
                    body = _json(path, r.data, f"a message on {chan.topic}")
                    if not isinstance(body, dict) or "value" not in body:
                        raise RecordingError(path, f"a message on {chan.topic} has no value",
                                             code="RET806")
                    samples[chan.topic].append(Sample(r.sequence, r.log_time / 1e9,
                                                      body["value"]))
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
