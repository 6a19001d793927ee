"""Typed errors of recording and replay (codes RET800-RET899).

Every error names the file it concerns and says what is wrong with it; a hint says what
to do. A recording that was cut off mid-write is not an error by default: it is read up
to its last complete message and :class:`TruncatedRecordingWarning` is issued.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from pathlib import Path

from retriever.contract.errors import RetrieverError

#: code -> short meaning (kept in one place so docs and tests agree).
CODES = {
    "RET800": "recording or replay problem",
    "RET801": "the file does not exist",
    "RET802": "the file is empty",
    "RET803": "the file is not an .rrd or .mcap recording",
    "RET804": "the file's content does not match its extension",
    "RET805": "the file is a valid recording, but not one written by retriever",
    "RET806": "the file is damaged",
    "RET807": "the flow or port is not in the recording",
    "RET808": "unsupported recording extension",
    "RET809": "the recording cannot be written",
    "RET810": "the recording was cut off mid-write (strict reading)",
    "RET811": "the recording does not fit the pipeline",
}


class RecordingError(RetrieverError):
    """A recording is missing, unreadable, foreign, damaged, or does not fit a pipeline.

    ``path`` is the file concerned (None when no file is involved).
    """

    code = "RET800"

    def __init__(self, path: str | Path | None, problem: str, *, hint: str = "",
                 code: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(where + problem, hint=hint, code=code)


class TruncatedRecordingWarning(UserWarning):
    """A recording ended mid-write; it was read up to its last complete message."""


def out_of_space(paths: Iterable[str | Path]) -> bool:
    """Whether a file of ``paths`` reached the file size limit (``ulimit -f``) or its
    disk is (nearly) full: Rerun reports a failed write without the system's errno."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    for p in paths:
        try:
            if soft != resource.RLIM_INFINITY and os.stat(p).st_size >= soft:
                return True
            vfs = os.statvfs(os.path.dirname(os.path.abspath(p)))
        except OSError:
            continue
        if vfs.f_bavail * vfs.f_frsize < 1 << 16:
            return True
    return False
