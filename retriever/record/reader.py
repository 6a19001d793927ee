"""Opening a recording: checks the file, sniffs its format, reads it.

Only the file's own bytes are looked at; nothing is unpickled, imported or executed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .config import FORMATS
from .errors import RecordingError, TruncatedRecordingWarning
from .mcap_io import MCAP_MAGIC, read_mcap
from .model import Recording
from .rrd import RRD_MAGIC, read_rrd

_OLD_RRD = (b"RRF0", b"RRF1")


def sniff(path: Path) -> str | None:
    """``"rrd"`` or ``"mcap"`` from the first bytes of the file, else None."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:4] == RRD_MAGIC or head[:4] in _OLD_RRD:
        return "rrd"
    if head == MCAP_MAGIC:
        return "mcap"
    return None


def open_recording(path: str | Path, *, strict: bool = False) -> Recording:
    """Read a ``.rrd`` or ``.mcap`` recording made by retriever.

    Raises :class:`RecordingError` naming the file when it is missing, empty, not a
    recording, named for the other format, damaged, or foreign. A file cut off mid-write
    is read up to its last complete message with a :class:`TruncatedRecordingWarning`
    (``strict=True`` raises instead).
    """
    p = Path(path)
    if not p.exists():
        raise RecordingError(p, "does not exist", code="RET801",
                             hint="check the path (recordings end in .rrd or .mcap)")
    if p.is_dir():
        raise RecordingError(p, "is a directory, not a recording file", code="RET803")
    wanted = FORMATS.get(p.suffix.lower())
    if wanted is None:
        raise RecordingError(p, f"has the extension {p.suffix or '(none)'!r}; recordings are "
                             ".rrd or .mcap files", code="RET808")
    if p.stat().st_size == 0:
        raise RecordingError(p, "is empty (the recording never started writing)",
                             code="RET802")
    found = sniff(p)
    if found is None:
        raise RecordingError(p, f"is not a {wanted.upper()} file (unrecognised content)",
                             code="RET803",
                             hint="pass a recording written by pipe.record or run(record=...)")
    if found != wanted:
        raise RecordingError(
            p, f"is named {p.suffix} but holds {found.upper()} data", code="RET804",
            hint=f"rename it to {p.with_suffix('.' + found).name}")
    if found == "rrd" and _starts_old(p):
        raise RecordingError(p, "was written by a Rerun release older than 0.23, which "
                             "current Rerun cannot read", code="RET805")
    rec = read_rrd(p) if found == "rrd" else read_mcap(p)
    if rec.truncated:
        if strict:
            raise RecordingError(p, "was cut off mid-write", code="RET810",
                                 hint="open it with strict=False to read what is there")
        warnings.warn(TruncatedRecordingWarning(
            f"{p} was cut off mid-write; read {rec.message_count} complete values"),
            stacklevel=2)
    return rec


def _starts_old(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in _OLD_RRD
