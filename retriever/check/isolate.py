"""Running the checker in a child process, so checked code cannot harm the check.

``retriever check`` has to import the modules it checks, which runs their top-level
code. That code might end the interpreter (``os._exit``), crash it, or never return.
So the check runs in one child Python process that reports, over a private pipe,
what it is about to run (the file it imports, the registered factory it calls) and at
the end its whole result. When the child dies or stays silent longer than the time
limit, the file (or factory) it was busy with gets a RET900/RET901 diagnostic and a
fresh child checks everything else again without it, so one bad module never hides
the others' findings. A clean run costs one child process.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from retriever.contract.catalogue import RULES
from retriever.contract.diagnostics import Diagnostic, Location, Severity

from .result import CheckResult
from .sources import CheckUsageError

#: Seconds a checked module (or factory) may run before it is reported as hanging.
DEFAULT_TIMEOUT = 60.0
_KILL_GRACE = 2.0
_DRAIN = 0.2  # seconds to keep relaying output after the result arrived
REQUEST_ENV = "RETRIEVER_CHECK_REQUEST"


def diag_to_json(d: Diagnostic) -> dict[str, Any]:
    """A diagnostic as JSON data (what the child sends)."""
    return {"code": d.code, "message": d.message, "hint": d.hint,
            "location": dataclasses.asdict(d.location), "severity": d.severity.value}


def _diag_from_json(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(data["code"], data["message"], data["hint"],
                      Location(**data["location"]), Severity(data["severity"]))


class _Attempt:
    """One child process: its progress so far and how it ended."""

    def __init__(self, request: dict[str, Any], timeout: float) -> None:
        self.timeout = timeout
        self.current: tuple[str, str] | None = None
        self.result: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.timed_out = False
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "retriever.check.child", str(write_fd)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(write_fd,), start_new_session=True, env=_child_env(request))
        finally:
            os.close(write_fd)
        self.results = os.fdopen(read_fd, "rb", buffering=0)

    def run(self) -> None:
        """Relay the child's output to our stderr and follow its reports until it ends."""
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.results, selectors.EVENT_READ, "results")
        sel.register(self.proc.stdout, selectors.EVENT_READ, "output")
        pending = b""
        text = codecs.getincrementaldecoder("utf-8")("replace")
        deadline = time.monotonic() + self.timeout
        open_streams = 2
        try:
            while open_streams:
                if self.result is not None or self.usage is not None:
                    # The child flushed its output before reporting: what is left in the
                    # pipe is read below; a process it started may hold the pipe open.
                    deadline = min(deadline, time.monotonic() + _DRAIN)
                left = deadline - time.monotonic()
                if left <= 0:
                    self.timed_out = self.result is None and self.usage is None
                    break
                for key, _ in sel.select(left):
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if not chunk:
                        sel.unregister(key.fileobj)
                        open_streams -= 1
                        continue
                    if key.data == "output":
                        sys.stderr.write(text.decode(chunk))
                        continue
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if self._report(json.loads(line)):
                            deadline = time.monotonic() + self.timeout
        finally:
            sel.close()
            self._end()

    def _report(self, msg: dict[str, Any]) -> bool:
        kind = msg["kind"]
        if kind == "result":
            self.result = msg["result"]
        elif kind == "usage":
            self.usage = msg
        else:
            self.current = (kind, msg["what"])
            return True
        return False

    def _end(self) -> None:
        finished = self.result is not None or self.usage is not None
        if finished:
            try:
                self.proc.wait(_KILL_GRACE)  # it leaves right after reporting
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGKILL if self.timed_out else signal.SIGTERM)
            try:
                self.proc.wait(_KILL_GRACE)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc, signal.SIGKILL)
                self.proc.wait()
        # Processes the checked code started (same session) do not outlive the check.
        _kill_group(self.proc, signal.SIGKILL)
        self.results.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def how_it_ended(self) -> str:
        """A phrase for a diagnostic: exit status, signal or time limit."""
        if self.timed_out:
            return f"did not finish within {self.timeout:g} s (an endless loop or a wait?)"
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed the checker process ({name})"
        return f"ended the checker process (exit status {code}; os._exit or a crash?)"


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # The child leads its own session (start_new_session), so its group holds nothing
    # but the child and what checked code started.
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # the group is already empty


def _child_env(request: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env[REQUEST_ENV] = json.dumps(request)
    # The child must import the same retriever and see the same modules as this process.
    paths = [p for p in sys.path if p] + env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    return env


def check_isolated(paths: Sequence[str], *, strict_single_io: bool = False,
                   exclude: Sequence[str] = (), timeout: float = DEFAULT_TIMEOUT,
                   explicit_sync: bool = False) -> CheckResult:
    """Check ``paths`` like :func:`~retriever.check.check_paths`, but in a child process
    with a time limit per module (see the module doc). Raises ``CheckUsageError`` for a
    PATH that names nothing."""
    if not timeout > 0:
        raise CheckUsageError(f"the time limit must be > 0 seconds, got {timeout!r}")
    skip_files: list[str] = []
    skip_entries: list[str] = []
    lost: list[Diagnostic] = []
    while True:
        request = {"paths": list(paths), "strict_single_io": strict_single_io,
                   "explicit_sync": explicit_sync,
                   "exclude": list(exclude), "skip_files": skip_files,
                   "skip_entries": skip_entries}
        attempt = _Attempt(request, timeout)
        attempt.run()
        if attempt.usage is not None:
            raise CheckUsageError(attempt.usage["message"], hint=attempt.usage["hint"])
        if attempt.result is not None:
            res = attempt.result
            return CheckResult(
                sorted([*lost, *map(_diag_from_json, res["diagnostics"])],
                       key=lambda d: (d.location.file or "", d.location.line or 0,
                                      d.location.column or 0, d.code)),
                res["files"] + len(skip_files), res["flows"], res["pipelines"])
        where = attempt.current
        if where is None or where[0] == "sources":
            lost.append(RULES["RET900"].diag(
                f"the checker process {attempt.how_it_ended()} before it checked anything",
                hint="run the check again; if it repeats, report it with the output above"))
            return CheckResult(lost, 0)
        kind, what = where
        if kind == "load":
            skip_files.append(what)
            lost.append(RULES["RET900"].diag(
                f"importing the module {attempt.how_it_ended()}; it was not checked",
                location=Location(what, 1, 1)))
        else:
            name, _, file = what.partition("\t")
            skip_entries.append(name)
            lost.append(RULES["RET901"].diag(
                f"building registered pipeline {name!r} {attempt.how_it_ended()}",
                location=Location(file or None, 1, 1)))
