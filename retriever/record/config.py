"""``RecordConfig``: where a recording goes and what it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retriever.contract.errors import ConfigError
from retriever.rt.options import flag, seconds

#: File extensions a recording can be written to / read from.
FORMATS = {".rrd": "rrd", ".mcap": "mcap"}
#: Where the files are written: a forked writer process, or the stepping thread.
WRITERS = ("process", "inline")


def format_of(path: str | Path) -> str:
    """``"rrd"`` or ``"mcap"`` from the file extension (ConfigError otherwise)."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise ConfigError(
            f"cannot record to {str(path)!r}: unknown extension {suffix or '(none)'!r}",
            hint="use a path ending in .rrd (Rerun) or .mcap (Foxglove, MCAP tools)",
            code="RET808") from None


@dataclass(frozen=True)
class RecordConfig:
    """Where to record and what to keep.

    ``path`` is the main file (``.rrd`` or ``.mcap``); every path in ``mirrors`` gets
    the same data in its own format, so one run can write both. ``inputs=False`` keeps
    only the flows' outputs (replay needs only those). Data reaches the disk at least
    every ``flush_interval`` seconds and when recording ends; ``flush_every_step=True``
    pushes every step before the next one starts (slower), so a killed process loses
    at most the step in flight. Whatever reached the disk always reads back.
    ``application_id`` and ``recording_id`` name the Rerun recording (a fresh id when
    None). ``writer="process"`` (the default) writes the files from a forked writer
    process: the stepping thread only encodes each step once and goes on, the files are
    written on another core. ``writer="inline"`` writes them on the stepping thread, as
    does ``flush_every_step=True`` (each step must be on disk before the next starts).
    """

    path: str | Path
    mirrors: Sequence[str | Path] = field(default_factory=tuple)
    inputs: bool = True
    flush_every_step: bool = False
    flush_interval: float = 0.5
    application_id: str = "retriever"
    recording_id: str | None = None
    writer: str = "process"

    def __post_init__(self) -> None:
        where = "RecordConfig"
        flag(self.inputs, "inputs", where=where)
        flag(self.flush_every_step, "flush_every_step", where=where)
        seconds(self.flush_interval, "flush_interval", where=where)
        if not isinstance(self.application_id, str) or not self.application_id:
            raise ConfigError(f"{where}: application_id={self.application_id!r} is not a "
                              "non-empty string")
        if self.recording_id is not None and not isinstance(self.recording_id, str):
            raise ConfigError(f"{where}: recording_id={self.recording_id!r} is not a string")
        if not isinstance(self.path, (str, Path)):
            raise ConfigError(f"{where}: path={self.path!r} is not a file path",
                              hint="pass path='run.mcap' or path='run.rrd'")
        if not isinstance(self.writer, str) or self.writer not in WRITERS:
            raise ConfigError(f"RecordConfig(writer={self.writer!r}) is not a writer",
                              hint=f"use one of {', '.join(map(repr, WRITERS))}",
                              code="RET808")
        if isinstance(self.mirrors, (str, Path)):
            object.__setattr__(self, "mirrors", (self.mirrors,))
        else:
            object.__setattr__(self, "mirrors", tuple(self.mirrors))
        seen: set[Path] = set()
        for p in self.paths:
            format_of(p)
            resolved = Path(p).resolve()
            if resolved in seen:
                raise ConfigError(f"{p} is listed twice in the record config",
                                  hint="give the main path and each mirror once")
            seen.add(resolved)

    @property
    def paths(self) -> list[Path]:
        """The main path followed by the mirrors."""
        return [Path(self.path), *(Path(m) for m in self.mirrors)]

    @classmethod
    def coerce(cls, value: Any) -> RecordConfig:
        """A config from a ``RecordConfig``, a path, or a list of paths."""
        if isinstance(value, RecordConfig):
            return value
        if isinstance(value, (str, Path)):
            return cls(path=value)
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (str, Path)) for v in value):
            return cls(path=value[0], mirrors=tuple(value[1:]))
        raise ConfigError(f"record={value!r} is not a path or a RecordConfig",
                          hint="pass record='run.rrd' or RecordConfig(path=..., mirrors=...)")
