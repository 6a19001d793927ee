"""The small file protocol between dora nodes and the process that owns the run.

Each node writes, into the run's status directory (JSON, replaced atomically):

- ``<node>.ready.json`` once its flows are built and it joined the dataflow: its pid,
  parent pid (the dora daemon or ``dora run``), host and dora machine id;
- ``<node>.stats.json`` about twice a second and when it ends: per-flow counters and a
  ``state`` of ``running`` or ``done``;
- ``<node>.error.json`` when the node failed: every error it saw (a flow's error, then
  any finalize failures), each an :class:`retriever.rt.errors.ErrorRecord`, so the
  owner re-raises them as the same typed errors as on the multiprocessing backend.

When the directory does not exist on a node's machine (a remote host), nothing is
written; failures then still surface as the node's non-zero exit in dora's log.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retriever.contract.errors import RetrieverError
from retriever.rt.errors import ErrorRecord


def _write(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class StatusWriter:
    """Node side: writes this node's status files (a no-op without a directory)."""

    def __init__(self, directory: str | None, node: str) -> None:
        self.dir = Path(directory) if directory and Path(directory).is_dir() else None
        self.node = node

    def _path(self, kind: str) -> Path | None:
        return self.dir / f"{self.node}.{kind}.json" if self.dir is not None else None

    def ready(self, partition: str, flows: list[str]) -> None:
        """Record that the node runs, and where."""
        path = self._path("ready")
        if path is not None:
            _write(path, {"node": self.node, "partition": partition, "flows": flows,
                          "pid": os.getpid(), "ppid": os.getppid(),
                          "host": socket.gethostname(),
                          "machine": os.environ.get("DORA_MACHINE_ID"),
                          "daemon_port": os.environ.get("DORA_DAEMON_LOCAL_LISTEN_PORT")})

    def stats(self, flows: dict[str, dict[str, int]], state: str = "running") -> None:
        """Record per-flow counters."""
        path = self._path("stats")
        if path is not None:
            _write(path, {"flows": flows, "state": state})

    def errors(self, records: list[ErrorRecord]) -> None:
        """Record the errors that end this node (its flow's error first)."""
        path = self._path("error")
        if path is not None:
            # pid: which incarnation failed (dora may restart a node with a restart policy)
            _write(path, {"errors": [r.pack() for r in records], "pid": os.getpid()})


@dataclass
class NodeStatus:
    """What the owner knows about one node from its files."""

    ready: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


class StatusReader:
    """Owner side: reads the status files of every node of a run."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # absent, or being replaced right now
        return data if isinstance(data, dict) else None

    def node(self, node: str) -> NodeStatus:
        """The current status of ``node``."""
        st = NodeStatus()
        st.ready = self._read(self.dir / f"{node}.ready.json")
        st.stats = self._read(self.dir / f"{node}.stats.json") or {}
        st.error = self._read(self.dir / f"{node}.error.json")
        return st


def errors_from_status(data: dict[str, Any], where: str = "") -> list[RetrieverError]:
    """Rebuild the typed errors a node recorded."""
    return [ErrorRecord.unpack(r).rebuild(where) for r in data.get("errors") or []]
