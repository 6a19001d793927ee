"""``.rrd`` recordings through rerun-sdk: writing, and reading with ``rerun.chunk``.

Layout: one entity per port (``/flows/<flow>/out/<port>``, ``.../in/<port>``), each
sample logged on the ``step`` (sequence) and ``time`` (duration) timelines. A row holds
what the viewer shows (scalar, image, tensor or text, see :mod:`.visual`) and, beside
it, the exact value as msgspec bytes (:func:`retriever.contract.wire.encode`) in the
``retriever_payload`` component, so replay gets numbers and arrays back bit for bit. The
header (JSON) is a static ``retriever_header`` component on the ``/retriever`` entity.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import struct
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from retriever.contract import wire
from retriever.contract.arrays import array_header, array_view
from retriever.types.header import Header
from retriever.types.vision import Image

from . import deps, visual
from .errors import RecordingError, out_of_space
from .layout import ChannelSpec, check_header
from .model import Channel, Recording, Sample
from .rerun_views import COLOR_MODELS, TransformTree, blueprint

HEADER_ENTITY = "/retriever"
HEADER_COMPONENT = "retriever_header"
PAYLOAD_COMPONENT = "retriever_payload"
IMAGE_COMPONENT = "retriever_image"  # [dtype, shape] of an array stored as Image:buffer
_EXACT_IMAGE_DTYPES = frozenset(("|u1", "<u2", "<f4"))
RRD_MAGIC = b"RRF2"
_FRAME = struct.Struct("<QQ")  # message kind, payload length
_STREAM_HEADER = 12  # magic, version, encoding options
FLUSH_ROUND = 1.0  # seconds per wait for the SDK's flush (see RrdSink._flush_fully)
FLUSH_STALL = 60.0  # a file that did not grow for this long while flushing: give up


def entity_path(rr: Any, topic: str) -> str:
    """The Rerun entity path of a channel (each part escaped)."""
    return "/" + "/".join(rr.escape_entity_path_part(p) for p in topic.strip("/").split("/"))


class _Pending:
    """Rows of one entity not yet handed to the SDK (sent as columns, in batches).

    ``kind`` is what the buffered rows show: ``"scalar"`` (a Scalars column goes with
    the payloads), ``"text"`` (a TextDocument column) or None (their views were logged
    one by one already; only the payloads wait).
    """

    __slots__ = ("kind", "payloads", "steps", "times", "views")

    def __init__(self) -> None:
        self.kind: str | None = None
        self.steps: list[int] = []
        self.times: list[float] = []
        self.payloads: list[bytes] = []
        self.views: list[Any] = []


_NUMBER_TYPES = frozenset((int, float, bool))


class RrdWriter:
    """Writes the samples of a run to one ``.rrd`` file.

    Exact payloads, scalar views and text views are buffered per entity and sent as
    columns (``send_columns``) when the file is flushed; images and tensors are logged as
    they come. The file is flushed after every step with ``flush_every_step``, else at
    least every ``flush_interval`` seconds and at the end.
    """

    def __init__(self, path: Path, meta: Mapping[str, Any], specs: Iterable[ChannelSpec], *,
                 application_id: str = "retriever", recording_id: str | None = None,
                 flush_every_step: bool = True, flush_interval: float = 0.5,
                 types: Mapping[str, Any] | None = None) -> None:
        rr = deps.rerun("writing .rrd recordings")
        self.path = path
        self._rr = rr
        self._pa = importlib.import_module("pyarrow")  # a dependency of rerun-sdk
        self._every_step = flush_every_step
        self._interval = flush_interval
        specs = list(specs)
        self._entities = {s.topic: entity_path(rr, s.topic) for s in specs}
        _check_writable(path)
        self._rec = rr.RecordingStream(application_id,
                                       recording_id=recording_id or str(uuid.uuid4()))
        self._rec.save(str(path))
        text = json.dumps(dict(meta), indent=2)
        self._rec.log(HEADER_ENTITY, rr.AnyValues(**{HEADER_COMPONENT: text}),
                      rr.TextDocument(text, media_type="text/plain"), static=True)
        # The layout the viewer opens with, after the header (a file cut off early still
        # names its channels).
        view = blueprint(rr, specs, types or {}, self._entities.__getitem__)
        if view is not None:
            self._rec.send_blueprint(view)
        self._rec.flush()
        self._pending: dict[str, _Pending] = {}
        self._trees: dict[str, TransformTree] = {}  # frame trees of transform-list ports
        self._step = 0
        self._now = 0.0
        self._last_flush = time.monotonic()
        self._timeline: tuple[int, float] | None = None
        self._closed = False

    def begin_step(self, step: int, now: float) -> None:
        """Set the timelines for the samples of one step."""
        self._step = step
        self._now = now

    def write(self, topic: str, value: Any) -> None:
        """Record one port value: its view and its exact bytes."""
        self._add(topic, self._step, self._now, value)

    def write_rows(self, rows: list[tuple[str, int, float, Any]]) -> None:
        """Record many values (``(topic, step, time, value)``, in step order)."""
        add = self._add
        for name, step, now, value in rows:
            add(name, step, now, value)

    def _add(self, topic: str, step: int, now: float, value: Any) -> None:
        entity = self._entities.get(topic)
        if entity is None:
            entity = self._entities[topic] = entity_path(self._rr, topic)
        tp = type(value)
        if tp in _NUMBER_TYPES:
            kind: str | None = "scalar"
        elif tp is str:
            kind = "text"
        elif isinstance(value, np.ndarray):
            if value.dtype.str in _EXACT_IMAGE_DTYPES and visual.is_image(value):
                self._log_image(entity, step, now, value)
                return
            kind = None
        elif tp is Image and _exact_image(value):
            self._log_typed_image(entity, step, now, value)
            return
        else:
            kind = "scalar" if visual.is_number(value) else None
        rows = self._pending.get(entity)
        if rows is None:
            rows = self._pending[entity] = _Pending()
        elif rows.kind != kind and rows.steps:
            self._send(entity, rows)  # the view changes: send what was buffered first
        rows.kind = kind
        rows.steps.append(step)
        rows.times.append(now)
        rows.payloads.append(wire.encode(value))
        if kind == "scalar":
            rows.views.append(float(value))
        elif kind == "text":
            rows.views.append(visual.preview(value))
        else:
            self._set_timeline(step, now)
            visual.log_value(self._rec, self._rr, entity, value, self._trees)

    def _set_timeline(self, step: int, now: float) -> None:
        if self._timeline != (step, now):
            self._rec.set_time("step", sequence=step)
            self._rec.set_time("time", duration=now)
            self._timeline = (step, now)

    def _log_image(self, entity: str, step: int, now: float, value: np.ndarray) -> None:
        # The image's pixel buffer already holds the exact bytes: store only dtype+shape.
        rr = self._rr
        self._set_timeline(step, now)
        dtype, dims = array_header(value)
        shape = json.dumps([dtype, list(dims)])
        self._rec.log(entity, rr.Image(value), rr.AnyValues(**{IMAGE_COMPONENT: shape}))

    def _log_typed_image(self, entity: str, step: int, now: float, img: Image) -> None:
        # The Image view's pixel buffer is the exact pixels (BGR stays BGR): store the
        # header and encoding beside dtype and shape instead of a second copy.
        self._set_timeline(step, now)
        px = img.data
        dtype, dims = array_header(px)
        meta = json.dumps([dtype, list(dims),
                           {"frame_id": img.header.frame_id, "stamp_ns": img.header.stamp_ns,
                            "encoding": img.encoding}])
        self._rec.log(entity, *visual.archetypes(self._rr, img),
                      self._rr.AnyValues(**{IMAGE_COMPONENT: meta}))

    def _send(self, entity: str, rows: _Pending) -> None:
        rr = self._rr
        n = len(rows.steps)
        if n == 0:
            return
        payloads = rows.payloads
        # A flat arrow array: a numpy array would be split into one list per byte.
        blob = self._pa.array(np.frombuffer(b"".join(payloads), dtype=np.uint8))
        columns = list(rr.AnyValues.columns(**{PAYLOAD_COMPONENT: blob}).partition(
            [len(p) for p in payloads]))
        if rows.kind == "scalar":
            columns.extend(rr.Scalars.columns(scalars=np.asarray(rows.views,
                                                                 dtype=np.float64)))
        elif rows.kind == "text":
            columns.extend(rr.TextDocument.columns(text=rows.views))
        self._rec.send_columns(
            entity, indexes=[rr.TimeColumn("step", sequence=rows.steps),
                             rr.TimeColumn("time", duration=_nanos(rows.times))],
            columns=columns)
        rows.steps, rows.times, rows.payloads, rows.views = [], [], [], []

    def end_step(self) -> None:
        """Flush (and wait) after every step with ``flush_every_step``; otherwise start a
        flush in the background when the interval passed."""
        if self._every_step:
            self.flush()
        elif time.monotonic() - self._last_flush >= self._interval:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Hand every buffered row to the SDK; with ``wait`` block until it is in the file."""
        for entity, rows in self._pending.items():
            self._send(entity, rows)
        if wait:
            self._flush_fully()
        else:
            self._rec.flush(timeout_sec=0.0)
        self._last_flush = time.monotonic()

    def _flush_fully(self) -> None:
        """Wait until the SDK wrote everything. Waits in short rounds: when its file
        writer died (a full disk), an unbounded flush of this SDK never returns."""
        size, stalled = -1, 0
        while True:
            try:
                self._rec.flush(timeout_sec=FLUSH_ROUND)
                return
            except RuntimeError as exc:
                if "timed out" not in str(exc):
                    raise
                if out_of_space([self.path]):
                    raise OSError(errno.ENOSPC, f"the Rerun writer stopped: the disk is "
                                  f"full or {self.path} reached the file size limit") from exc
                now = self.path.stat().st_size if self.path.exists() else 0
                stalled = stalled + 1 if now == size else 0
                size = now
                if stalled * FLUSH_ROUND >= FLUSH_STALL:
                    raise RuntimeError(f"the Rerun writer stopped writing {self.path} for "
                                       f"{FLUSH_STALL:.0f} s") from exc

    def close(self) -> None:
        """Flush and finish the file (footer included)."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        self._rec.disconnect()


def _nanos(seconds: list[float]) -> np.ndarray:
    """Step times as nanosecond durations, rounded like ``set_time(duration=...)``."""
    ns = np.round(np.asarray(seconds, dtype=np.float64) * 1e9).astype(np.int64)
    return ns.astype("timedelta64[ns]")


def _check_writable(path: Path) -> None:
    try:
        with open(path, "wb"):
            pass
    except OSError as exc:
        raise RecordingError(path, f"cannot be created: {exc.strerror or exc}",
                             hint="check that the directory exists and is writable",
                             code="RET809") from None


# ------------------------------------------------------------------------- reading


def scan_frames(path: Path) -> tuple[int, bool]:
    """(where the whole data frames end, whether the stream's end frame is complete).

    A file whose writer finished has an end-of-stream frame carrying its footer; the
    data frames end where that frame starts. A file cut off mid-write has no complete
    end frame (it may be cut inside it, or inside a data frame): the first number is
    then the length of the longest prefix of whole data frames, which is all that
    needs to be read.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(4) != RRD_MAGIC:
            return 0, False
        offset = _STREAM_HEADER
        fh.seek(offset)
        while True:
            head = fh.read(_FRAME.size)
            if len(head) < _FRAME.size:
                return offset, False
            kind, length = _FRAME.unpack(head)
            if kind == 0:  # end of stream: its payload is the footer
                return offset, offset + _FRAME.size + length <= size
            if offset + _FRAME.size + length > size:
                return offset, False
            offset += _FRAME.size + length
            fh.seek(offset)


def _open_chunks(path: Path) -> tuple[list[Any], bool]:
    chunk = deps.rerun_chunk("reading .rrd recordings")
    data_end, ended = scan_frames(path)
    size = path.stat().st_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(chunk.RrdReader(str(path)).stream()), not ended
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc)
    if data_end <= _STREAM_HEADER or (ended and data_end >= size):
        raise RecordingError(path, f"is not a readable .rrd file ({_short(first)})",
                             hint="the file is damaged; record it again", code="RET806")
    # Read the whole data frames alone: a file cut inside its end frame (or a data
    # frame) still holds every complete frame before the cut.
    fd, tmp = tempfile.mkstemp(suffix=".rrd")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            out.write(src.read(data_end))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(chunk.RrdReader(tmp).stream()), True
    except (RuntimeError, ValueError) as exc:
        raise RecordingError(path, f"is damaged and cannot be read ({_short(str(exc))})",
                             code="RET806") from None
    finally:
        os.unlink(tmp)


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:200]


class _TypedImage:
    """An ``Image`` stored as its Rerun view: pixels plus header and encoding."""

    __slots__ = ("meta", "pixels")

    def __init__(self, pixels: np.ndarray, meta: dict[str, Any]) -> None:
        self.pixels = pixels
        self.meta = meta

    def value(self, tp: Any) -> Any:
        header = Header(str(self.meta["frame_id"]), int(self.meta["stamp_ns"]))
        if isinstance(tp, type) and issubclass(tp, Image):
            return tp(header, self.pixels, str(self.meta["encoding"]))
        return {"header": {"frame_id": header.frame_id, "stamp_ns": header.stamp_ns},
                "data": self.pixels, "encoding": self.meta["encoding"]}


def _exact_image(img: Image) -> bool:
    """Whether an ``Image`` is logged as an ``rr.Image`` whose buffer keeps its pixels."""
    px = img.data
    return (isinstance(px, np.ndarray) and px.dtype.str in _EXACT_IMAGE_DTYPES
            and img.encoding in COLOR_MODELS and visual.is_image(px)
            and px.flags.c_contiguous and px.dtype.kind == "u")


def _decode(payload: Any, tp: Any) -> Any:
    if isinstance(payload, np.ndarray):  # an image stored as Image:buffer
        return payload
    if isinstance(payload, _TypedImage):
        return payload.value(tp)
    return wire.convert(wire.decode(payload), tp)


def read_rrd(path: Path) -> Recording:
    """Read a retriever ``.rrd`` (a cut-off file up to its last whole frame)."""
    rr = deps.rerun("reading .rrd recordings")
    chunks, truncated = _open_chunks(path)
    meta: dict[str, Any] | None = None
    rows: list[tuple[str, Any]] = []
    for ch in chunks:
        if ch.entity_path == HEADER_ENTITY:
            meta = meta or _header_of(ch)
        else:
            rows.append((ch.entity_path, ch))
    if meta is None and truncated:
        raise RecordingError(path, "was cut off before the retriever header was written",
                             code="RET806")
    if meta is None:
        raise RecordingError(path, "is an .rrd file but not a retriever recording "
                             "(no /retriever header entity)", code="RET805",
                             hint="record it with retriever (pipe.record / run(record=...))")
    problem = check_header(meta)
    if problem:
        raise RecordingError(path, problem, code="RET805")
    channels: dict[str, Channel] = {}
    by_entity: dict[str, str] = {}
    for c in meta["channels"]:
        ch_ = Channel(c["topic"], c["flow"], c["side"], c["port"], c.get("type", "Any"))
        channels[ch_.topic] = ch_
        by_entity[entity_path(rr, ch_.topic)] = ch_.topic
    samples: dict[str, list[Sample]] = {t: [] for t in channels}
    for entity, ch in rows:
        topic = by_entity.get(entity)
        if topic is not None:
            samples[topic].extend(_samples_of(ch))
            channels[topic].views.update(_views_of(ch))
    for topic, lst in samples.items():
        lst.sort(key=lambda s: s.step)
        for s in lst:
            channels[topic].seen(s.time)
    return Recording(path=path, format="rrd", meta=meta, channels=channels, samples=samples,
                     decoder=_decode, truncated=truncated)


def _header_of(ch: Any) -> dict[str, Any] | None:
    rb = ch.to_record_batch()
    if HEADER_COMPONENT not in rb.schema.names:
        return None
    for cell in rb.column(HEADER_COMPONENT).to_pylist():
        if cell:
            try:
                data = json.loads(cell[0])
            except (ValueError, TypeError):
                return None
            return data if isinstance(data, dict) else None
    return None


def _views_of(ch: Any) -> set[str]:
    names = ch.to_record_batch().schema.names
    return {n.split(":", 1)[0] for n in names if ":" in n and not n.startswith("rerun.")}


def _samples_of(ch: Any) -> list[Sample]:
    rb = ch.to_record_batch()
    names = rb.schema.names
    if "step" not in names or (PAYLOAD_COMPONENT not in names and IMAGE_COMPONENT not in names):
        return []
    steps = rb.column("step").to_numpy(zero_copy_only=False)
    if "time" in names:
        times = rb.column("time").cast("int64").to_numpy(zero_copy_only=False) / 1e9
    else:
        times = np.zeros(len(steps))
    out = []
    if PAYLOAD_COMPONENT in names:
        col = rb.column(PAYLOAD_COMPONENT)
        offsets = col.offsets.to_numpy()
        values = col.values.to_numpy(zero_copy_only=False)
        valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        for i in range(len(rb)):
            if valid[i]:
                blob = values[offsets[i]:offsets[i + 1]]
                out.append(Sample(int(steps[i]), float(times[i]), memoryview(blob)))
    if IMAGE_COMPONENT in names and "Image:buffer" in names:
        shapes = rb.column(IMAGE_COMPONENT).to_pylist()
        buffers = rb.column("Image:buffer")
        for i, cell in enumerate(shapes):
            if not cell:
                continue
            dtype, shape, *typed = json.loads(cell[0])
            pixels = buffers[i].values[0].values.to_numpy(zero_copy_only=False)
            arr = array_view(pixels.tobytes(), dtype, shape)
            payload = _TypedImage(arr, typed[0]) if typed else arr
            out.append(Sample(int(steps[i]), float(times[i]), payload))
    return out
