"""Shared pieces of the spec-conformance tests (tests/test_spec_*.py).

Each of those tests takes a code block of the spec, completes it as little as possible
(envelope classes the text leaves out, a sink that writes what it received to a file so
a test can read it back from worker processes) and runs it on the stepper and on the
multiprocessing backend, and on dora where the spec shows dora.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from retriever.contract.envelope import envelope_ports
from retriever.flow import Pipeline, io

HERE = Path(__file__).resolve().parent
#: Backends every block runs on; dora is added where the spec shows it.
BACKENDS = ["stepper", "multiprocessing"]


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a port value."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__retriever_ports__"):
        return {k: plain(getattr(value, k)) for k in envelope_ports(type(value))}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class JsonSink:
    """Mixin for sink flows: appends the carried fields of each input as one JSON line.

    Use as ``class XSink(JsonSink, Flow[X, None])``; build with the output file path.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def step(self, input: Any) -> None:
        fields = {k: plain(getattr(input, k)) for k in envelope_ports(type(input))
                  if getattr(input, k) is not None}
        if fields:
            with open(self.path, "a") as fh:
                fh.write(json.dumps(fields) + "\n")


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a :class:`JsonSink` wrote (none when it never ran)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def execute(pipe: Pipeline, backend: str, *, steps: int = 6, dt: float = 0.1,
            duration: float = 1.0) -> Any:
    """Step ``pipe`` ``steps`` times, or run it on ``backend`` for ``duration`` s."""
    if backend == "stepper":
        try:
            return [pipe.step(dt=dt) for _ in range(steps)]
        finally:
            pipe.close_stepper()
    return pipe.run(backend=backend, duration=duration)


def run_graph(build: Callable[[str], Pipeline], backend: str, tmp_path: Path,
              **options: Any) -> list[dict[str, Any]]:
    """Build a graph whose sink writes to a fresh file, execute it, read the file."""
    out = tmp_path / f"{backend}.jsonl"
    execute(build(str(out)), backend, **options)
    return read_lines(out)


def dora_env(monkeypatch: Any) -> None:
    """Fresh dora node processes import the test modules by name: put them on the path."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE.parent), str(HERE)]))


@io
class Pose:
    """Shares its class name with ``Pose`` of test_spec_typing (aliasing tests)."""

    x: float
