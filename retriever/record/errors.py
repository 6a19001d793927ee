"""Typed errors of recording and replay (codes RET800-RET849).

Every error names the file it concerns and says what is wrong with it; a hint says what
to do. A recording that was cut off mid-write is not an error by default: it is read up
to its last complete message and :class:`TruncatedRecordingWarning` is issued.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from pathlib import Path

from retriever.contract.catalogue import ERRORS
from retriever.contract.errors import RetrieverError

#: code -> short meaning (from the catalogue, where every code is described).
CODES = {c: e.cause for c, e in ERRORS.items() if "RET800" <= c < "RET850"}


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
