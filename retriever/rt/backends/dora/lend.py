"""Loaned arrays on dora: a flow fills dora's own shared-memory sample.

dora's Python API (1.x) hands out a writable sample of an output
(``Node.send_output_raw``) and sends it without a copy, but only once nothing views
its memory any more. A :class:`SampleLender` is the :class:`~retriever.rt.loan.LoanDesk`
allocator of a flow whose messages leave the partition: ``Flow.loan`` returns an array
over such a sample, with room after it for the message's encoding (the sample's
metadata is fixed at allocation, before the step built the rest of the message; see
:mod:`.codec`).

:class:`LentSends` does the sending. A published loan is queued while the step's own
references to it are still alive, and sent once the event that ran the step is handled
(or before the next message of the node is sent, so every output keeps its order): the
sample as it is when this process holds no view of it (no copy), else a
copy through ``send_output``, which is what happens when a flow of the same partition
also subscribes to it, an observer holds it, or the flow kept the array. A sample that
was not sent (copied, or not published) is kept until its last view is gone, so memory
a view can still read is never handed to another sample.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ...loan import LoanDesk
from .codec import (
    HEADER_KEY,
    OUT_OF_BAND,
    SEQ_KEY,
    TAIL_KEY,
    TAIL_ROOM,
    DoraCodec,
    uint8_view,
    write_tail,
)

Send = Callable[[str, Any, dict[str, Any]], None]


class Sample:
    """One loan's dora sample: the handle, our memoryview of it, the array's size and a
    weak reference to the array the flow got (its ``pin``)."""

    __slots__ = ("handle", "nbytes", "pin", "view")

    def __init__(self, handle: Any, view: memoryview, nbytes: int, pin: np.ndarray) -> None:
        self.handle = handle
        self.view = view
        self.nbytes = nbytes
        self.pin = weakref.ref(pin)


class LentSends:
    """Published loans waiting to be sent, and samples kept while views remain."""

    __slots__ = ("_held", "_queue", "copied", "send", "zero_copy")

    def __init__(self, send: Send) -> None:
        self.send = send
        self._queue: list[tuple[str, Any, Any, int]] = []  # seq -1: an ordinary message
        self._held: list[Sample] = []
        self.zero_copy = 0  # loans sent as they are
        self.copied = 0     # loans sent as a copy (something still viewed them)

    @property
    def waiting(self) -> bool:
        """Whether published loans wait to be sent (flush them before anything else is
        sent, so every output's messages leave in order)."""
        return bool(self._queue)

    def keep(self, sample: Sample) -> None:
        """Hold an unsent sample until nothing views it."""
        self._held.append(sample)

    def queue_loan(self, out_id: str, desk: LoanDesk, codec: DoraCodec,
                   msg: dict[str, Any], seq: int) -> None:
        """Queue ``msg``, which published ``desk.lent``; the desk lets go of its loans."""
        lent = desk.lent
        desk.lent = []
        loan = lent[0] if len(lent) == 1 else None
        sample: Sample | None = loan.token if loan is not None else None
        head, blobs = codec.encode_parts(msg)
        if (sample is not None and loan is not None and len(blobs) == 1
                and blobs[0] is loan.array and write_tail(sample.view, head, seq)):
            self._queue.append((out_id, sample, head, seq))
            return
        # several large arrays, or an encoding too long for the tail: an ordinary
        # message (send_output copies the loans out of their samples)
        del blobs
        value, meta = codec.encode(msg)
        self._queue.append((out_id, value, {**meta, SEQ_KEY: seq}, -1))
        for other in lent:
            if other.token is not None:
                self.keep(other.token)

    def flush(self) -> None:
        """Send everything queued, in order (call it when the step's references are
        gone: after the event that ran it)."""
        queue = self._queue
        self._queue = []
        for out_id, value, extra, seq in queue:
            if seq < 0:
                self.send(out_id, value, extra)
            else:
                self._send_sample(out_id, value, extra, seq)
        if self._held:
            self._held = [s for s in self._held if s.pin() is not None]

    def _send_sample(self, out_id: str, sample: Sample, head: bytes, seq: int) -> None:
        # Every array over the sample derives from the loan's pin (numpy keeps a view's
        # base alive), so a live pin is what "this process still views it" means; dora
        # would refuse to send the sample then. (numpy's frombuffer holds its own
        # memoryview, so our view's release() alone would not tell.)
        pin = sample.pin()
        if pin is None:
            try:
                sample.view.release()
            except BufferError:
                pin = np.frombuffer(sample.view, np.uint8, count=sample.nbytes)
            else:
                sample.handle.send()
                sample.handle = None
                self.zero_copy += 1
                return
        self.send(out_id, uint8_view(pin[:sample.nbytes]),
                  {HEADER_KEY: head.decode("latin-1"), SEQ_KEY: seq})
        del pin
        self.copied += 1
        self.keep(sample)


class SampleLender:
    """The loan allocator of one flow whose messages leave the partition on dora output
    ``out_id`` (see the module docs)."""

    __slots__ = ("node", "out_id", "sends")

    def __init__(self, node: Any, out_id: str, sends: LentSends) -> None:
        self.node = node
        self.out_id = out_id
        self.sends = sends

    def allocate(self, nbytes: int) -> tuple[np.ndarray, Any] | None:
        """A writable buffer in a new dora sample (None for small arrays, which travel
        inside the encoding anyway)."""
        if nbytes < OUT_OF_BAND:
            return None
        handle = self.node.send_output_raw(self.out_id, nbytes + TAIL_ROOM, {TAIL_KEY: 1})
        view = handle.as_memoryview()
        pin = np.frombuffer(view, np.uint8, count=nbytes)
        return pin, Sample(handle, view, nbytes, pin)

    def abandon(self, token: Any) -> None:
        """The loan was not published: keep its sample until nothing views it."""
        self.sends.keep(token)


__all__ = ["LentSends", "Sample", "SampleLender"]
