"""A parent process for the fault tests: ``python -m tests.fault_parent BACKEND MODE LOG``.

Runs ``counter @ Rate(50) -> sink`` (the sink appends a JSON line per message to LOG,
see :mod:`tests.mp_flows`) and prints ``READY`` once the sink logged three messages.

- ``MODE=hold``: a non-blocking run; the process then sleeps until it is killed.
- ``MODE=block``: a blocking run of 30 s; on ``KeyboardInterrupt`` it prints
  ``INTERRUPTED`` and exits with status 3.

``python -m tests.fault_parent BACKEND disk PATH LIMIT`` records camera frames to PATH
(``pipe.record`` when BACKEND is ``stepper``, else ``run(record=...)``) with the file
size limited to LIMIT bytes (``RLIMIT_FSIZE``: writes past it fail like on a full disk)
and prints one JSON line: the error the caller saw (class, code, message) or none.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import threading
import time
from typing import Any

from retriever.flow import Latest, Pipeline, Rate, Trigger

from . import mp_flows as F


def pipeline(log: str) -> Pipeline:
    """The two-flow pipeline every fault test runs."""
    pipe = Pipeline("faults")
    src = (F.Counter() @ Rate(hz=50)).named("counter")
    pipe.add(src)
    pipe.connect(src, (F.NumLog(log) @ Trigger("value")).named("sink"), sync=Latest())
    return pipe


def options(backend: str) -> dict[str, Any]:
    """Quiet options per backend."""
    return {"echo": False} if backend == "dora" else {}


def announce_when_logging(log: str, rows: int = 3, timeout: float = 60.0) -> None:
    """Print READY once the sink logged ``rows`` messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(F.read_log(log)[0]) >= rows:
            print("READY", flush=True)
            return
        time.sleep(0.02)
    print("NEVER READY", flush=True)


def record_until_full(backend: str, path: str, limit: int) -> int:
    """Record frames into a file that cannot grow past ``limit`` bytes."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    pipe = Pipeline("disk")
    pipe.add((F.FrameSource(48, 64) @ Rate(hz=100)).named("cam"))
    out: dict[str, Any] = {"error": None}
    try:
        if backend == "stepper":
            pipe.record(path, steps=2000, dt=0.01)
        else:
            pipe.run(backend=backend, duration=20.0, record=path, dt=0.01)
    except Exception as exc:  # reported to the test, which judges it
        out = {"error": type(exc).__name__, "code": getattr(exc, "code", None),
               "message": str(exc)}
    print(json.dumps(out), flush=True)
    return 0


def main(argv: list[str]) -> int:
    """See the module docs."""
    # Python's own Ctrl-C handler even when the test runner was started with SIGINT
    # ignored (in the background by a non-interactive shell): its children inherit that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if argv[1] == "disk":
        return record_until_full(argv[0], argv[2], int(argv[3]))
    backend, mode, log = argv
    pipe = pipeline(log)
    if mode == "hold":
        pipe.run(backend=backend, duration=None, blocking=False, **options(backend))
        announce_when_logging(log)
        time.sleep(120)
        return 0
    threading.Thread(target=announce_when_logging, args=(log,), daemon=True).start()
    try:
        pipe.run(backend=backend, duration=30.0, **options(backend))
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
