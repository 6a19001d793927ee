"""The writer process of :class:`~.offload.OffloadRecorder`: it decodes the steps handed
over, rebuilds the values with the flows' declared port types (and the inputs the
recording process left out, :mod:`.derive`), and writes the files with the ordinary
:class:`~.recorder.Recorder`.

The writer reports on a status pipe with JSON lines: ``["ready"]``, ``["done",
values]`` or ``["error", record]``, where ``record`` is the runtime's one error transport,
a packed :class:`~retriever.rt.errors.ErrorRecord` (its ``path`` names the file concerned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gc
import os
import queue
import signal
import threading
import traceback
from types import SimpleNamespace
from typing import Any

import msgspec

from retriever.contract import wire
from retriever.contract.errors import RetrieverError
from retriever.ir.model import IR
from retriever.rt.errors import ErrorRecord
from retriever.rt.stepper import StepResult

from .config import RecordConfig
from .derive import InputRebuilder
from .errors import RecordingError, out_of_space
from .handover import Handover
from .layout import PortValues, port_types
from .recorder import SCALAR_TYPES, Recorder

#: Frames the writer takes off the pipe ahead of the one it is writing.
QUEUED_FRAMES = 8
WRITER_NICE = 10  # scheduling priority of the writer, below the pipeline's
EXT_PORTS = 7  # an input already flattened to {port: value} (composite inputs)


def start_writer(ir: IR, config: RecordConfig) -> tuple[int, Handover, int]:
    """Fork the writer; returns (pid, the hand-over's parent side, status read fd)."""
    handover = Handover()
    status_r, status_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the writer: never returns
        code = 1
        try:
            handover.writer_side()
            os.close(status_r)
            code = _writer_main(ir, config, handover, status_w, parent)
        finally:
            os._exit(code)
    handover.parent_side()
    os.close(status_w)
    return pid, handover, status_r


def _report(fd: int, *msg: Any) -> None:
    data = msgspec.json.encode(list(msg)) + b"\n"
    while data:
        data = data[os.write(fd, data):]


_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def error_record(exc: BaseException, paths: Any = ()) -> ErrorRecord:
    """The writer's failure ``exc`` as the record it reports to the recording process.

    ``message`` is the problem alone (code, hint and file travel in their own fields, so
    the rebuilt :class:`RecordingError` says each once); ``paths`` are the files being
    written, checked for a full disk when the error itself does not say so."""
    if isinstance(exc, RecordingError):
        return ErrorRecord(kind="RecordingError", message=exc.problem, code=exc.code,
                           hint=exc.hint, path=str(exc.path) if exc.path else "")
    if isinstance(exc, RetrieverError):
        return ErrorRecord(kind=type(exc).__name__, message=exc.message, code=exc.code,
                           hint=exc.hint)
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if (isinstance(exc, OSError) and exc.errno in _FULL) or out_of_space(paths):
        return ErrorRecord(
            kind="RecordingError", code="RET809",
            message=f"the disk is full or the file reached its size limit ({text}); the "
            "file holds the steps written before",
            hint="free disk space (or raise the file size limit, ulimit -f) and record "
            "again; open_recording() reads what was written")
    return ErrorRecord(kind=type(exc).__name__, code="RET809",
                       message=f"the recording writer failed: {text}")


def _yield_to_the_pipeline() -> None:
    """Recording must not compete with the pipeline for a core: from now on the writer
    runs at idle priority (it catches up in the pipeline's idle time; a full pipe still
    blocks, so nothing is lost). Only once its libraries are imported and its files
    open: the recording process waits for that, and an idle-priority writer still
    importing on a machine whose cores were all busy made the wait last as long as the
    load did."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.nice(WRITER_NICE)


def _writer_main(ir: IR, config: RecordConfig, handover: Handover, status: int,
                 parent: int) -> int:
    """Write the files from the steps handed over (runs in the forked writer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends the stream
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The writer keeps few objects alive: what it inherited is frozen, and collections
    # run rarely (decoding a batch allocates thousands of short-lived containers).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        recorder = Recorder(ir, dataclasses.replace(config, writer="inline"))
    except BaseException as exc:
        _report(status, "error", error_record(exc).pack())
        return 1
    _yield_to_the_pipeline()
    _report(status, "ready")
    rebuild = _Rebuild(ir)
    rebuilder = None
    try:
        for batch in _frames(handover, parent):
            for item in batch:
                if len(item) != 4:  # the plan for rebuilding inputs (.derive.pack_plan)
                    rebuilder = InputRebuilder.unpack(item)
                    continue
                now, executed, messages, inputs = item
                if type(inputs) is list:  # some (or all) inputs are to be rebuilt
                    assert rebuilder is not None
                    # rebuilt inputs are scalar ports: they never need converting
                    plain = _plain(messages, inputs[0])
                    inputs = rebuilder.step(executed, messages, inputs[0])
                else:
                    plain = _plain(messages, inputs)
                if plain:
                    recorder.add_scalars(now, executed, messages, inputs)
                else:
                    recorder(rebuild.step(now, executed, messages, inputs))
        recorder.close()
    except BaseException as exc:
        record = error_record(exc, config.paths)
        try:
            recorder.close()  # finish the files with what arrived
        except BaseException as also:  # reported with the first error, not instead of it
            record.message += ("; also, while finishing the files: "
                               f"{error_record(also).message}")
        _report(status, "error", record.pack())
        return 1
    _report(status, "done", recorder.values)
    return 0


def _frames(handover: Handover, parent: int) -> Any:
    """Decoded batches of steps until the end of the stream, EOF, or the parent's death.

    A reader thread takes frames off the hand-over (copying them out and freeing
    their slots) while this thread writes files: the copy overlaps the file writes,
    which release the GIL (reading on this thread made full-HD frames fall behind 30
    Hz). At most ``QUEUED_FRAMES`` wait (then the recording process waits)."""
    decode = msgspec.msgpack.Decoder(ext_hook=_ext_hook).decode
    frames: queue.Queue[bytearray | None] = queue.Queue(QUEUED_FRAMES)
    # parent gone and someone else holds the pipe: stop waiting for it
    reader = threading.Thread(target=handover.receive,
                              args=(lambda: os.getppid() == parent, frames), daemon=True,
                              name="retriever-record-reader")
    reader.start()
    while (frame := frames.get()) is not None:
        yield decode(frame)  # a list of steps; their arrays view the frame's buffer


def _plain(messages: dict[str, dict[str, Any]], inputs: dict[str, Any] | None) -> bool:
    """Whether a decoded step holds only scalars (it then needs no rebuilding)."""
    scalars = SCALAR_TYPES
    for msg in messages.values():
        if not scalars.issuperset(map(type, msg.values())):
            return False
    if inputs:
        for fields in inputs.values():
            if fields is not None and (type(fields) is not dict or not scalars.issuperset(
                    map(type, fields.values()))):
                return False
    return True


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == EXT_PORTS:
        return PortValues(msgspec.msgpack.decode(data, ext_hook=wire.ext_hook))
    return wire.ext_hook(code, data)


class _Rebuild:
    """Turns decoded steps back into :class:`StepResult` with the declared types."""

    def __init__(self, ir: IR) -> None:
        self.out: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        for node in ir.nodes:
            self.out[node.id] = _structured(port_types(node, "out"))
            ins = port_types(node, "in")
            self.ports[node.id] = _structured(ins)
            # a single-envelope input arrives as its fields (composites come flattened)
            single = len(node.inputs.elements) == 1
            self.fields[node.id] = _structured(
                {p.field: ins[p.name] for p in node.input_ports} if single else {})

    def step(self, now: float, executed: list[str], messages: dict[str, dict[str, Any]],
             inputs: dict[str, Any] | None) -> StepResult:
        for name, msg in messages.items():
            _convert(msg, self.out.get(name))
        rebuilt: dict[str, Any] = {}
        for name, inp in (inputs or {}).items():
            if isinstance(inp, PortValues):
                _convert(inp, self.ports.get(name))
                rebuilt[name] = inp
            elif isinstance(inp, dict):
                _convert(inp, self.fields.get(name))
                rebuilt[name] = SimpleNamespace(**inp)
            else:
                rebuilt[name] = inp
        return StepResult(now=now, executed=executed, inputs=rebuilt, messages=messages)


def _structured(types: dict[str, Any]) -> dict[str, Any]:
    return {k: t for k, t in types.items() if wire.needs_convert(t)}


def _convert(values: dict[str, Any], types: dict[str, Any] | None) -> None:
    if types:
        for key, tp in types.items():
            if values.get(key) is not None:
                values[key] = wire.convert(values[key], tp)


__all__ = ["EXT_PORTS", "error_record", "start_writer"]
