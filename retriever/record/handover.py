"""How encoded steps travel from the recording process to its writer process.

A batch of steps (a *frame*) is copied into one slot of a shared memory region created
before the fork, and the writer is told which slot over the data pipe; it copies the
frame out and hands the slot back over the ack pipe. Copying into shared memory costs
the stepping thread one memory copy; writing the same bytes through the pipe cost
several times more while the writer read them concurrently. A frame larger than a
slot (a frame of video) goes through the pipe itself. A full set of slots, like a full
pipe, makes the recording process wait: nothing is dropped.

Data pipe records: ``u32 n`` then ``n`` bytes (an inline frame), ``u32 SHARED, u32
slot, u32 n`` (a frame in shared memory), or ``u32 0`` (end of stream).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import mmap
import os
import queue
import select
import struct
from collections.abc import Callable

#: Size of one shared-memory slot, and how many there are.
SLOT_BYTES = 1 << 20
SLOTS = 4
#: Pipe capacity asked for (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default).
PIPE_BYTES = 1024 * 1024
SHARED = 0xFFFFFFFF
_SHARED_REF = struct.Struct("<III")  # SHARED, slot, size
_SLOT_REF = struct.Struct("<II")  # slot, size
_U32 = struct.Struct("<I")


class Handover:
    """Both ends of the hand-over; after the fork each process keeps its own."""

    def __init__(self) -> None:
        self.data_r, self.data_w = os.pipe()
        self.ack_r, self.ack_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self.data_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self.ack_r, False)
        self.shm = mmap.mmap(-1, SLOTS * SLOT_BYTES)  # anonymous + shared: survives fork
        self.free = list(range(SLOTS))

    # ------------------------------------------------------------------ sides
    def parent_side(self) -> None:
        """Close the writer's ends (in the recording process)."""
        os.close(self.data_r)
        os.close(self.ack_w)

    def writer_side(self) -> None:
        """Close the recording process's ends (in the writer)."""
        os.close(self.data_w)
        os.close(self.ack_r)

    def close(self) -> None:
        """Close the recording process's ends and the shared memory."""
        for fd in (self.data_w, self.ack_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.shm.close()

    # ------------------------------------------------------------------ sending
    def send(self, parts: list[bytes], size: int, wait: Callable[[int], None]) -> None:
        """Hand over one frame made of ``parts`` (``size`` bytes in all).

        ``wait(fd)`` is called when every slot is in use: it must return once ``fd``
        is readable, or raise if the writer is gone."""
        if size > SLOT_BYTES:
            write_all(self.data_w, [_U32.pack(size), *parts])
            return
        slot = self._slot(wait)
        at = slot * SLOT_BYTES
        for p in parts:
            self.shm[at:at + len(p)] = p
            at += len(p)
        write_all(self.data_w, [_SHARED_REF.pack(SHARED, slot, size)])

    def end(self) -> None:
        """Tell the writer the stream is over."""
        write_all(self.data_w, [_U32.pack(0)])

    def _slot(self, wait: Callable[[int], None]) -> int:
        self._take_acks()
        while not self.free:
            wait(self.ack_r)
            self._take_acks()
        return self.free.pop()

    def _take_acks(self) -> None:
        try:
            acks = os.read(self.ack_r, 64)
        except BlockingIOError:
            return
        self.free.extend(acks)

    # ------------------------------------------------------------------ receiving
    def receive(self, still_wanted: Callable[[], bool],
                out: queue.Queue[bytearray | None]) -> None:
        """Put each frame on ``out`` (in the writer), then None at the end of the
        stream, at EOF (the recording process died), or once ``still_wanted()`` says
        no while the pipe is silent."""
        pipe = io.FileIO(self.data_r, "rb", closefd=False)
        try:
            while True:
                r, _, _ = select.select([self.data_r], [], [], 1.0)
                if not r:
                    if not still_wanted():
                        return
                    continue
                head = read_exactly(pipe, 4)
                n = _U32.unpack(head)[0] if head is not None else 0
                if n == 0:
                    return
                if n == SHARED:
                    ref = read_exactly(pipe, _SLOT_REF.size)
                    if ref is None:
                        return
                    slot, size = _SLOT_REF.unpack(ref)
                    at = slot * SLOT_BYTES
                    with memoryview(self.shm) as shm:
                        frame = bytearray(shm[at:at + size])
                    write_all(self.ack_w, [bytes((slot,))])
                else:
                    got = read_exactly(pipe, n)
                    if got is None:  # cut off mid-frame: the recording process died
                        return
                    frame = got
                out.put(frame)
        finally:
            out.put(None)


def write_all(fd: int, parts: list[bytes]) -> None:
    """Write ``parts`` in order, with one system call when the pipe has room."""
    views = [memoryview(p) for p in parts if p]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def read_exactly(pipe: io.FileIO, n: int) -> bytearray | None:
    """``n`` bytes read straight into a fresh buffer (None at EOF)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = pipe.readinto(view[got:])
        if not k:
            return None
        got += k
    return buf
