"""Recording from a writer process, so that recording costs the stepping thread little.

The stepping thread encodes each observed step once, in C (msgspec: the step time, the
flows that ran, their messages and the input objects the writer cannot rebuild itself,
see :mod:`.derive`; arrays as raw buffers), and writes the bytes into shared memory that
is handed to a forked writer process every few milliseconds (``handover.py``). The
writer (:mod:`.offload_writer`) decodes the steps, rebuilds the values with the flows'
declared port types, and feeds them to the ordinary :class:`~.recorder.Recorder`, which
writes the ``.rrd``/``.mcap`` files there, on another core.

Encoding at once means a flow may mutate a published array afterwards without changing
the recording. A writer that falls behind blocks the stepping thread (nothing is
dropped); a writer that fails or dies is reported as a
:class:`~.errors.RecordingError` on the next step or on close. If the recording
process is killed, the writer finishes the files with everything it received; the
writer ignores Ctrl-C and waits for the end of the stream.

A frame is one msgpack array of steps: the array header, then the steps' encodings
back to back, so the writer decodes a frame in one call. A step is ``[time, executed,
messages, inputs]``; ``inputs`` is None (outputs only), ``{flow: input}`` (every input),
or ``[{flow: input} | None]`` (these, and the writer rebuilds the others, following the
plan that came as the first item of the stream). The writer
reports on a second pipe with JSON lines: ``["ready"]``, ``["done", values]`` or
``["error", record]`` with a packed :class:`~retriever.rt.errors.ErrorRecord`, the one
error transport between processes; it comes back as the same
:class:`~.errors.RecordingError` (code, hint and file). The lines are plain JSON data,
checked before use: a malformed one is itself reported as a ``RecordingError``.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import threading
from typing import Any

import msgspec

from retriever.contract import wire
from retriever.contract.errors import ErrorCollector
from retriever.ir.model import IR
from retriever.rt.errors import ErrorRecord
from retriever.rt.stepper import Stepper, StepResult

from . import deps
from .config import RecordConfig, format_of
from .derive import InputPlan, pack_plan, plan_inputs
from .errors import RecordingError
from .handover import STAGE_BASE, STAGE_FULL
from .layout import flatten_input, topic
from .offload_writer import EXT_PORTS, start_writer
from .recorder import Recorder, Sink

#: Hand the steps to the writer at least this often (seconds); the hand-over also
#: sends a frame as soon as it is full.
SEND_INTERVAL = 0.02
#: A step's inputs when the writer rebuilds every one of them (see .derive).
_REBUILD_ALL: list[Any] = [None]
_WRITE_HINT = ("ports must carry plain data, numpy arrays or dataclasses to be recorded")
#: The writer's status messages: tag -> length of the message.
_STATUS_LEN = {"ready": 1, "done": 2, "error": 2}


def status_message(line: bytes, path: Any) -> list[Any]:
    """One status line of the writer, checked (``path``: the file an error names).

    The line is JSON decoded to plain data, nothing is executed; anything but a known
    message of the right shape raises a :class:`RecordingError`."""
    try:
        msg = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise _malformed(path, f"{exc} in {line[:200]!r}") from None
    if not (isinstance(msg, list) and msg and isinstance(msg[0], str)
            and _STATUS_LEN.get(msg[0]) == len(msg)) or (
            msg[0] == "done" and type(msg[1]) is not int):
        raise _malformed(path, repr(msg)[:200])
    return msg


def writer_error(payload: Any, path: Any) -> RecordingError:
    """The :class:`RecordingError` a writer's ``["error", record]`` describes: the
    record's code, hint and file (``path`` when it names none)."""
    record = ErrorRecord.unpack(payload)  # a malformed record says so
    return RecordingError(record.path or path, record.message,
                          code=record.code or "RET809", hint=record.hint)


def _malformed(path: Any, what: str) -> RecordingError:
    return RecordingError(path, f"the recording writer sent a malformed status message: "
                          f"{what}", code="RET809",
                          hint="the writer process is retriever's own; this is a bug: "
                          "please report it with the message above")


def offload_available() -> bool:
    """Whether this platform can fork a writer process."""
    return hasattr(os, "fork") and hasattr(os, "pipe")


def open_recorder(ir: IR, config: RecordConfig | None, *, live: Sink | None = None,
                  stepper: Stepper | None = None) -> Recorder | OffloadRecorder:
    """The recorder for ``config``: a writer process unless the config asks for
    ``writer="inline"`` or ``flush_every_step`` (each step on disk before the next).

    Pass the ``stepper`` whose steps are recorded (when the recorder observes a
    :class:`~retriever.rt.stepper.Stepper`): the writer process then rebuilds the inputs
    it can rebuild exactly instead of receiving them (:mod:`.derive`)."""
    if (config is not None and config.writer == "process" and not config.flush_every_step
            and offload_available()):
        return OffloadRecorder(ir, config, live=live, stepper=stepper)
    return Recorder(ir, config, live=live)


class OffloadRecorder:
    """A stepper observer that ships each step to a writer process (see the module doc).

    Same surface as :class:`~.recorder.Recorder`: call it with each
    :class:`~retriever.rt.stepper.StepResult`, then :meth:`close`; ``steps``,
    ``values`` (known once closed) and ``paths``.
    """

    def __init__(self, ir: IR, config: RecordConfig, *, live: Sink | None = None,
                 stepper: Stepper | None = None) -> None:
        for path in config.paths:  # a missing extra is reported here, not by the writer
            deps.require(format_of(path), f"writing .{format_of(path)} recordings")
        self.config = config
        self.values = 0
        self._inputs = config.inputs
        self._nodes = {n.id: n for n in ir.nodes}
        self._enc = msgspec.msgpack.Encoder(enc_hook=wire.enc_hook)
        self._encode = self._enc.encode
        self._is_closed = False
        self._live = Recorder(ir, config, live=live, write_files=False) if live else None
        # inputs the writer rebuilds itself (see .derive) and the guard that keeps that
        # exact: set by attach_stepper
        self._plan: InputPlan | None = None
        self._last_now = -math.inf
        self._replays: dict[str, Any] = {}
        self._n_replays = 0
        self._planned = 0  # 1 once the plan is in the stream (it is not a step)
        self._pid, self._handover, self._status = start_writer(ir, config)
        self._last_pid = self._pid
        self._failure: RecordingError | None = None  # what the writer reported, if it failed
        self._handover.wait = self._wait_for_slot
        self._ticker = _Ticker()
        self._stage = self._handover.stage
        self._encode_into = self._enc.encode_into
        self._status_buf = b""
        try:
            self._expect_ready()
        except BaseException:
            self._abandon()
            raise
        if stepper is not None:
            self.attach_stepper(stepper)

    def attach_stepper(self, stepper: Stepper) -> None:
        """Record the steps of ``stepper``: the writer process then rebuilds the inputs
        it can rebuild exactly instead of receiving them (:mod:`.derive`). Call it
        before the first step (the in-process backend does, for its observers); once
        steps were recorded it changes nothing."""
        if self.steps or self._planned or not self._inputs or self._closed:
            return
        self._replays = stepper.replay
        self._n_replays = len(self._replays)
        self._last_now = stepper.now if stepper.now is not None else -math.inf
        plan = plan_inputs(stepper)
        if plan is None:
            return
        self._stage += self._encode(pack_plan(plan))  # the first item of the stream
        self._handover.count += 1
        self._planned = 1
        self._plan = plan

    @property
    def paths(self) -> list[Any]:
        """The files being written."""
        return self.config.paths

    @property
    def _closed(self) -> bool:
        return self._is_closed

    @_closed.setter
    def _closed(self, closed: bool) -> None:
        # a closed recorder refuses steps in the encoding call every step makes anyway
        self._is_closed = closed
        if closed:
            self._encode_into = self._refuse

    def _refuse(self, *_: Any) -> None:
        if self._failure is not None:
            raise self._failure
        raise RecordingError(self.config.paths[0], "the recording was already closed",
                             code="RET809")

    # ------------------------------------------------------------------ stepping
    @property
    def steps(self) -> int:
        """Steps observed so far."""
        return self._handover.sent + self._handover.count - self._planned

    def __call__(self, result: StepResult) -> None:
        # The hot path of a recorded step: one C call encodes the step straight into
        # the hand-over's staging buffer (no bytes object and no copy of its own); the
        # staged steps are copied into shared memory once they hold STAGE_BYTES (at the
        # next step) and handed to the writer when the ticker says so.
        plan = self._plan
        now = result.now
        if plan is None:
            inputs: Any = result.inputs if self._inputs else None
        elif (now < self._last_now or len(self._replays) != self._n_replays
              or result.behind):
            self._plan = None  # rebuilding would no longer be exact: send them all
            inputs = result.inputs
        elif plan.encoded:
            got = result.inputs
            inputs = [{n: got[n] for n in plan.encoded if n in got}]
        else:
            inputs = _REBUILD_ALL
        self._last_now = now
        stage = self._stage
        mark = len(stage)
        if mark >= STAGE_FULL:  # what the steps before staged goes to shared memory
            self._spill()
            mark = STAGE_BASE
        try:
            self._encode_into((now, result.executed, result.messages, inputs), stage, -1)
        except TypeError:
            del stage[mark:]  # what the refused call wrote
            stage += self._encode_slowly(result)
        self._handover.count += 1
        if self._live is not None:
            self._live(result)
        if self._ticker.due:
            self._send()

    def _spill(self) -> None:
        try:
            self._handover.spill()
        except (OSError, ValueError) as exc:  # ValueError: the shared memory was closed
            if self._closed:
                raise RecordingError(self.config.paths[0], "the recording was already "
                                     "closed", code="RET809") from exc
            self._raise_writer_gone(exc)

    def _encode_slowly(self, result: StepResult) -> bytes:
        """A step the one-call encoding refused: composite or non-dataclass inputs are
        flattened to ports first; a value that still cannot be encoded is named."""
        inputs: Any = None
        plan = self._plan
        if self._inputs:
            inputs = {}
            for name, inp in result.inputs.items():
                if plan is not None and name not in plan.encoded:
                    continue  # the writer rebuilds it
                flat = flatten_input(self._nodes[name], inp) if name in self._nodes else {}
                inputs[name] = msgspec.msgpack.Ext(EXT_PORTS, self._encode_part(
                    flat, name, "in"))
        for name, msg in result.messages.items():
            self._encode_part(msg, name, "out")
        if plan is not None:  # sent beside the ones the writer rebuilds
            inputs = [inputs]
        return self._encode((result.now, result.executed, result.messages, inputs))

    def _encode_part(self, ports: dict[str, Any], flow: str, side: str) -> bytes:
        for port, value in ports.items():
            try:
                self._enc.encode(value)
            except TypeError as exc:
                raise RecordingError(self.config.paths[0],
                                     f"cannot record {topic(flow, side, port)}: {exc}",
                                     code="RET809", hint=_WRITE_HINT) from exc
        return self._enc.encode(ports)

    # ------------------------------------------------------------------ the pipe
    def _send(self, *, end: bool = False) -> None:
        """Hand the steps encoded since the last frame to the writer (and, at the end,
        tell it the stream is over)."""
        if self._closed:
            raise RecordingError(self.config.paths[0], "the recording was already closed",
                                 code="RET809")
        self._ticker.due = False
        self._check_status()
        try:
            if end:
                self._handover.end()
            else:
                self._handover.flush()
        except OSError as exc:
            self._raise_writer_gone(exc)

    def _wait_for_slot(self, fd: int) -> None:
        """Every hand-over slot is in use: wait for the writer to free one, noticing
        its error report or its death."""
        while True:
            r, _, _ = select.select([fd, self._status], [], [], 0.2)
            if self._status in r:
                self._read_status(block=False)  # raises the writer's error
            if fd in r:
                return
            if not r and self._reap(wait=False) is not None:
                self._raise_writer_gone(None)

    def _check_status(self) -> None:
        """Raise the writer's error if it reported one (non-blocking)."""
        r, _, _ = select.select([self._status], [], [], 0)
        if r:
            self._read_status(block=False)

    def _read_status(self, *, block: bool) -> list[Any] | None:
        while True:
            nl = self._status_buf.find(b"\n")
            if nl >= 0:
                line, self._status_buf = self._status_buf[:nl], self._status_buf[nl + 1:]
                try:
                    msg = status_message(line, self.config.paths[0])
                except RecordingError as exc:
                    self._failure = exc
                    if self._pid:  # a writer that talks nonsense is not trusted further
                        with contextlib.suppress(OSError):
                            os.kill(self._pid, signal.SIGKILL)
                        self._reap(wait=True)
                    raise
                if msg[0] == "error":
                    self._reap(wait=True)
                    self._failure = writer_error(msg[1], self.config.paths[0])
                    raise self._failure
                return msg
            if not block and not select.select([self._status], [], [], 0)[0]:
                return None
            chunk = self._read_some()
            if not chunk:
                self._raise_writer_gone(None)
            self._status_buf += chunk

    def _read_some(self) -> bytes:
        """Read the status pipe, noticing a writer that died while we wait."""
        while True:
            r, _, _ = select.select([self._status], [], [], 0.2)
            if r:
                return os.read(self._status, 65536)
            if self._reap(wait=False):
                # it exited: whatever it wrote before is still readable
                r, _, _ = select.select([self._status], [], [], 0)
                return os.read(self._status, 65536) if r else b""

    def _expect_ready(self) -> None:
        msg = self._read_status(block=True)
        if not msg or msg[0] != "ready":
            self._raise_writer_gone(None)

    def _raise_writer_gone(self, exc: Exception | None) -> None:
        if self._failure is not None:
            raise self._failure  # the writer said why it stopped: keep saying that
        pid = self._pid or self._last_pid
        code = self._reap(wait=True)
        # A writer that failed reported why before it exited (a full disk, say): raise
        # that rather than the bare fact that it is gone.
        with contextlib.suppress(OSError):
            while select.select([self._status], [], [], 0)[0]:
                chunk = os.read(self._status, 65536)
                if not chunk:
                    break
                self._status_buf += chunk
        for line in self._status_buf.split(b"\n"):
            try:
                msg = status_message(line, self.config.paths[0]) if line else None
            except RecordingError:
                continue  # a line cut short by the writer's death
            if msg is not None and msg[0] == "error":
                self._closed = True
                self._failure = writer_error(msg[1], self.config.paths[0])
                raise self._failure from exc
        how = (f"was killed by signal {-code}" if code is not None and code < 0
               else f"exited with status {code}")
        self._closed = True
        raise RecordingError(
            self.config.paths[0],
            f"the recording writer process (pid {pid}) {how}; the files hold what "
            "it wrote before", code="RET809",
            hint="see the process's output above for its error") from exc

    def _reap(self, *, wait: bool) -> int | None:
        """The writer's exit code once it exited (negative: killed by that signal)."""
        if self._pid == 0:
            return self._exit
        try:
            pid, status = os.waitpid(self._pid, 0 if wait else os.WNOHANG)
        except ChildProcessError:
            pid, status = self._pid, 0
        if pid == 0:
            return None
        self._exit: int | None = os.waitstatus_to_exitcode(status)
        self._last_pid, self._pid = self._pid, 0
        return self._exit

    def _abandon(self) -> None:
        self._closed = True
        if hasattr(self, "_ticker"):
            self._ticker.stop()
        self._handover.close()
        if self._pid:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap(wait=True)
        with contextlib.suppress(OSError):
            os.close(self._status)

    # ------------------------------------------------------------------ the end
    def close(self) -> None:
        """Send what is buffered, let the writer finish the files and wait for it."""
        if self._closed:
            return
        # The live view, the end of the stream and the writer's own report can each
        # fail; all of them are reported.
        errors = ErrorCollector()
        self._ticker.stop()
        if self._live is not None:
            with errors.step():
                self._live.close()
        with errors.step():
            self._send(end=True)
        self._closed = True
        with errors.step():
            msg = self._read_status(block=True)
            if msg and msg[0] == "done":
                self.values = int(msg[1])
        with errors.step():
            self._reap(wait=True)
        self._handover.close()
        with contextlib.suppress(OSError):
            os.close(self._status)
        errors.raise_all("finishing the recording failed")

    def __del__(self) -> None:
        # A recorder dropped without close() must not leave its writer waiting forever;
        # closing the pipe lets the writer finish the files with what it has.
        if not getattr(self, "_closed", True):
            ticker = getattr(self, "_ticker", None)
            if ticker is not None:
                ticker.stop()
            self._handover.close()


class _Ticker:
    """Sets ``due`` every ``SEND_INTERVAL`` seconds from a daemon thread, so that the
    stepping thread tests a flag at each step instead of reading the clock."""

    __slots__ = ("_stop", "due")

    def __init__(self) -> None:
        self.due = False
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="retriever-record-ticker",
                         daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(SEND_INTERVAL):
            self.due = True

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()


__all__ = ["OffloadRecorder", "offload_available", "open_recorder", "status_message",
           "writer_error"]
