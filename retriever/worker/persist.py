"""Persisting a stateful worker's state so it survives a restart of its process.

The state is written after every tick with :func:`retriever.contract.wire.encode`
(msgspec MessagePack, numpy arrays as raw buffers; never pickle) to a temporary file that
then replaces the state file atomically, so a process killed mid-write leaves the
previous state intact. Decoded state holds plain data: dicts, lists, numbers, strings,
bytes and numpy arrays (tuples come back as lists, dataclasses as dicts).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from retriever.contract import wire

from .errors import WorkerError

_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_state_dir() -> Path:
    """Where state files go when no path is given.

    ``$RETRIEVER_WORKER_STATE_DIR`` if set, else ``<$RETRIEVER_RUN_DIR>/worker-state``
    if a run directory is set, else ``.retriever/worker-state`` under the working
    directory.
    """
    explicit = os.environ.get("RETRIEVER_WORKER_STATE_DIR")
    if explicit:
        return Path(explicit)
    run_dir = os.environ.get("RETRIEVER_RUN_DIR")
    if run_dir:
        return Path(run_dir) / "worker-state"
    return Path.cwd() / ".retriever" / "worker-state"


def default_state_file(key: str) -> Path:
    """The default state file of the worker identified by ``key`` (e.g. its fn ref)."""
    return default_state_dir() / (_UNSAFE.sub("_", key).strip("_") + ".state")


class StateStore:
    """Reads and atomically writes one worker's state file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> tuple[bool, Any, int]:
        """``(found, state, ticks)``; ``found`` is False when no file exists yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False, None, 0
        except OSError as exc:
            raise self._error("read", exc) from None
        try:
            doc = wire.decode(data)
        except (msgspec.DecodeError, ValueError) as exc:
            raise WorkerError(f"worker state file {str(self.path)!r} is corrupt: {exc}",
                              code="RET890", hint="delete it to start from initial_state"
                              ) from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT or "state" not in doc:
            raise WorkerError(f"worker state file {str(self.path)!r} has an unknown layout",
                              code="RET890", hint="delete it to start from initial_state")
        return True, doc["state"], int(doc.get("ticks", 0))

    def save(self, state: Any, ticks: int) -> None:
        """Write ``state`` (atomically replacing the previous file)."""
        try:
            payload = wire.encode({"format": _FORMAT, "ticks": ticks, "state": state})
        except TypeError as exc:
            raise WorkerError(f"worker state cannot be persisted: {exc}", code="RET890",
                              hint="keep state to plain data (dict, list, numbers, str, "
                                   "bytes, numpy arrays)") from None
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(payload)  # no fsync: a killed process is the case covered
            os.replace(tmp, self.path)
        except OSError as exc:
            raise self._error("write", exc) from None

    def clear(self) -> None:
        """Delete the state file (the next start uses ``initial_state``)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error("delete", exc) from None

    def _error(self, what: str, exc: OSError) -> WorkerError:
        return WorkerError(f"cannot {what} worker state file {str(self.path)!r}: "
                           f"{exc.strerror}", code="RET890")
