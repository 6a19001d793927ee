"""The child process of an isolated ``retriever check`` (see :mod:`.isolate`).

Run as ``python -m retriever.check.child FD``: reads its request from the environment,
checks in this process, and reports progress and the result as JSON lines on ``FD``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from retriever.registry.pipeline import registered_entries

from .engine import check_paths
from .isolate import REQUEST_ENV, diag_to_json
from .sources import CheckUsageError


def main() -> None:
    """Read the request, check, report over the pipe, and leave."""
    out = os.fdopen(int(sys.argv[1]), "wb", buffering=0)
    request = json.loads(os.environ.pop(REQUEST_ENV))

    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg).encode() + b"\n")

    def progress(kind: str, what: str) -> None:
        if kind == "entry":  # the parent reports a factory at its file
            entry = next((e for e in registered_entries() if e.name == what), None)
            code = getattr(getattr(entry, "factory", None), "__code__", None)
            what = f"{what}\t{Path(code.co_filename).resolve() if code else ''}"
        send({"kind": kind, "what": what})

    sys.argv = sys.argv[:1]
    try:
        result = check_paths(request["paths"], strict_single_io=request["strict_single_io"],
                             exclude=request["exclude"], skip_files=request["skip_files"],
                             skip_entries=request["skip_entries"], progress=progress,
                             explicit_sync=request.get("explicit_sync", False))
    except CheckUsageError as exc:
        report: dict[str, Any] = {"kind": "usage", "message": exc.message,
                                  "hint": exc.hint}
    else:
        report = {"kind": "result", "result": {
            "diagnostics": [diag_to_json(d) for d in result.diagnostics],
            "files": result.files, "flows": result.flows, "pipelines": result.pipelines}}
    # Output first: once the report arrives the parent stops waiting for more.
    sys.stdout.flush()
    sys.stderr.flush()
    send(report)
    out.close()
    # Leave at once: interpreter shutdown would run the checked modules' atexit hooks
    # and finalizers, which have nothing left to report.
    os._exit(0)


if __name__ == "__main__":
    main()
