"""A step observer for tests: appends one JSON line per execution to $OBS_OUT."""

from __future__ import annotations

import json
import os
from typing import Any


class FileObserver:
    """Writes (pid, flow, step, message keys) per execution; marks close."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a")  # noqa: SIM115 - closed in close()

    def on_step(self, flow: str, step: int, now: float, inputs: Any,
                message: dict[str, Any] | None) -> None:
        self.file.write(json.dumps({"pid": os.getpid(), "flow": flow, "step": step,
                                    "ports": sorted(message or {})}) + "\n")

    def close(self) -> None:
        self.file.write(json.dumps({"pid": os.getpid(), "closed": True}) + "\n")
        self.file.close()


def factory() -> FileObserver | None:
    path = os.environ.get("OBS_OUT")
    return FileObserver(path) if path else None
