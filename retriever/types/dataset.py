"""Dataset manifests and export of events to Parquet.

:func:`export_parquet` writes one Parquet file per stream into a directory, plus a
``manifest.json`` (a :class:`DatasetManifest`) naming each stream's file, payload type,
JSON Schema, event count and time span, and the episodes. Each file is an ordinary table
that pandas, polars or pyarrow open directly::

    pandas.read_parquet("out/pose.parquet")

Columns of every file: ``time_ns`` (int64), ``seq`` (int64), ``lineage`` (list of
``"stream#seq"`` strings), ``episode`` (string, only when episodes are given), then the
value. Values are flattened: a dataclass or mapping becomes one column per leaf field
with dotted names (``pose.position.x``); a numpy array becomes a list column (plus a
``<name>.shape`` column when it has more than one dimension); a scalar value is the column
``value``. A column whose values Arrow cannot type consistently is stored as the JSON text
of :func:`~retriever.types.jsonable.to_jsonable`.

pyarrow is imported only when exporting; without it :class:`MissingDependencyError`
names the extra to install.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from retriever.contract.errors import MissingDependencyError

from .errors import SchemaError
from .events import Event, EventBuffer
from .jsonable import to_jsonable
from .registry import json_schema, name_of

__all__ = ["PARQUET_EXTRA", "DatasetManifest", "Episode", "StreamInfo", "export_parquet"]

#: The extra that installs pyarrow.
PARQUET_EXTRA = "data"
MANIFEST_FILE = "manifest.json"


class StreamInfo(BaseModel):
    """One stream of a dataset: where it is stored and what its values are."""

    model_config = ConfigDict(extra="forbid")

    name: str
    file: str = Field(description="path of the stream's file, relative to the dataset")
    type_name: str | None = Field(default=None, description="registered payload type name, "
                                  "or the Python class path of an unregistered type")
    value_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the values' JSON form")
    count: int = 0
    start_ns: int | None = None
    end_ns: int | None = None


class Episode(BaseModel):
    """A named time span ``[start_ns, end_ns)`` of a dataset (one trial, one run...)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    start_ns: int
    end_ns: int
    metadata: dict[str, Any] = Field(default_factory=dict)

    def contains(self, time_ns: int) -> bool:
        """Whether ``time_ns`` falls inside the episode."""
        return self.start_ns <= time_ns < self.end_ns


class DatasetManifest(BaseModel):
    """What a dataset directory holds: streams, their schemas and the episodes."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["retriever-dataset"] = "retriever-dataset"
    version: Literal[1] = 1
    name: str = ""
    created_ns: int = Field(default_factory=time.time_ns)
    streams: list[StreamInfo] = Field(default_factory=list)
    episodes: list[Episode] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def stream(self, name: str) -> StreamInfo:
        """The stream called ``name`` (``KeyError`` listing the streams otherwise)."""
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(f"no stream {name!r}; streams: {', '.join(s.name for s in self.streams)}")

    def write(self, directory: str | Path) -> Path:
        """Write ``manifest.json`` into ``directory``; returns its path."""
        path = Path(directory) / MANIFEST_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: str | Path) -> DatasetManifest:
        """Read ``manifest.json`` from a dataset directory (or the file itself)."""
        path = Path(directory)
        if path.is_dir():
            path = path / MANIFEST_FILE
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


Record = tuple[str, int, Any]


def export_parquet(source: EventBuffer | Iterable[Event | Record], directory: str | Path, *,
                   name: str = "", episodes: Sequence[Episode] = (),
                   metadata: Mapping[str, Any] | None = None,
                   compression: str = "zstd") -> DatasetManifest:
    """Write events as a Parquet dataset (one file per stream) and its manifest.

    ``source`` is an :class:`EventBuffer`, or any iterable of :class:`Event` objects or
    ``(stream, time_ns, value)`` records (a recording reader yields these; records are
    numbered per stream from 0). Events are written in time order. Returns the manifest.
    """
    pa, pq = _pyarrow()
    events = _collect(source)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    by_stream: dict[str, list[Event]] = {}
    for e in events:
        by_stream.setdefault(e.stream, []).append(e)
    manifest = DatasetManifest(name=name, episodes=list(episodes), metadata=dict(metadata or {}))
    used: set[str] = set()
    for stream, items in by_stream.items():
        file = _file_name(stream, used)
        type_name, schema = _describe(items)
        table = _table(pa, items, episodes)
        meta = {b"retriever.stream": stream.encode(),
                b"retriever.type": (type_name or "").encode()}
        if schema is not None:
            meta[b"retriever.schema"] = json.dumps(schema, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
        pq.write_table(table, out / file, compression=compression)
        manifest.streams.append(StreamInfo(
            name=stream, file=file, type_name=type_name, value_schema=schema,
            count=len(items), start_ns=items[0].time_ns, end_ns=items[-1].time_ns))
    manifest.write(out)
    return manifest


def _pyarrow() -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", PARQUET_EXTRA,
                                     "exporting events to Parquet") from exc
    return pa, pq


def _collect(source: EventBuffer | Iterable[Event | Record]) -> list[Event]:
    if isinstance(source, EventBuffer):
        return list(source)
    events: list[Event] = []
    counters: dict[str, int] = {}
    for item in source:
        if isinstance(item, Event):
            events.append(item)
            continue
        stream, time_ns, value = item
        seq = counters.get(stream, 0)
        counters[stream] = seq + 1
        events.append(Event(int(time_ns), stream, seq, value))
    return list(EventBuffer(events))


def _file_name(stream: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", stream).strip("._") or "stream"
    candidate, k = base, 1
    while candidate.lower() in used:
        k += 1
        candidate = f"{base}_{k}"
    used.add(candidate.lower())
    return candidate + ".parquet"


def _describe(items: Sequence[Event]) -> tuple[str | None, dict[str, Any] | None]:
    sample = next((e.value for e in items if e.value is not None), None)
    if sample is None:
        return None, None
    cls = type(sample)
    registered = name_of(cls)
    type_name = registered or f"{cls.__module__}:{cls.__qualname__}"
    try:
        schema = json_schema(cls)
    except SchemaError:
        schema = None
    return type_name, schema


def _table(pa: Any, items: Sequence[Event], episodes: Sequence[Episode]) -> Any:
    columns: dict[str, Any] = {
        "time_ns": pa.array([e.time_ns for e in items], type=pa.int64()),
        "seq": pa.array([e.seq for e in items], type=pa.int64()),
        "lineage": pa.array([[str(r) for r in e.lineage] for e in items],
                            type=pa.list_(pa.string())),
    }
    if episodes:
        columns["episode"] = pa.array([_episode_of(e.time_ns, episodes) for e in items],
                                      type=pa.string())
    flat = [_flatten(e.value) for e in items]
    names: list[str] = []
    for row in flat:
        for k in row:
            if k not in names:
                names.append(k)
    for col in names:
        values = [row.get(col) for row in flat]
        columns[col] = _column(pa, values)
    return pa.table(columns)


def _episode_of(time_ns: int, episodes: Sequence[Episode]) -> str | None:
    return next((ep.id for ep in episodes if ep.contains(time_ns)), None)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    name = prefix or "value"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    if isinstance(value, np.ndarray) and value.ndim > 1:
        return {name: value.reshape(-1), f"{name}.shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {name: value.item()}
    return {name: value}


def _column(pa: Any, values: list[Any]) -> Any:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return pa.array([None if v is None else json.dumps(to_jsonable(v)) for v in values],
                        type=pa.string())
