"""How encoded steps travel from the recording process to its writer process.

The recording process appends each encoded item (one step) to a small staging buffer
(:attr:`Handover.stage`; the recorder encodes straight into it, so a step allocates
nothing of its own, and the buffer never moves, see :func:`_fresh_stage`). Every
``STAGE_BYTES`` the staged items are copied in one go into
the frame being filled: a slot of a shared memory region created before the fork (the
part of each slot that frames of small items use is faulted in then, not on the
stepping thread). A *frame* is items back to back under a msgpack array header, so the
writer decodes a frame with one call. When a frame is sent, the writer is told which
slot over the data pipe; it copies the frame out and hands the slot back over the ack
pipe. Items larger than a slot (video with its inputs) travel through the pipe as a
frame of their own. A full set of slots, like a full pipe, makes the recording process
wait: nothing is dropped.

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

#: Size of one shared-memory slot (items larger than this go through the pipe),
#: and how many there are.
SLOT_BYTES = 8 << 20
SLOTS = 4
#: A frame is sent once it holds this many bytes (a frame of video is sent at once).
FRAME_BYTES = 256 * 1024
#: Staged items are copied into the frame once they hold this many bytes.
STAGE_BYTES = 16 * 1024
#: The staging buffer's unused prefix (see :func:`_fresh_stage`), and the buffer's
#: length once ``STAGE_BYTES`` are staged.
STAGE_BASE = 64 * 1024
STAGE_FULL = STAGE_BASE + STAGE_BYTES
#: Pipe capacity asked for (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default).
PIPE_BYTES = 1024 * 1024
SHARED = 0xFFFFFFFF
_SHARED_REF = struct.Struct("<III")  # SHARED, slot, size
_SLOT_REF = struct.Struct("<II")  # slot, size
_U32 = struct.Struct("<I")
_ARRAY_HEAD = struct.Struct(">BI")  # msgpack array32: 0xdd, then the count (big-endian)
_ARRAY32 = 0xDD
HEAD = _ARRAY_HEAD.size

#: Called when every slot is in use, with the ack pipe's descriptor: it must return
#: once that is readable, or raise if the writer is gone.
Wait = Callable[[int], None]


def _block(fd: int) -> None:
    select.select([fd], [], [])


def _fresh_stage() -> bytearray:
    """A staging buffer: ``STAGE_BASE`` bytes of unused prefix, then the staged items.

    CPython reallocates a bytearray that shrinks below half of what it allocated, and
    msgspec's ``encode_into`` grows its target to 1.5 times what it needs. With the
    prefix, appending small items (up to a third of the prefix in all) and emptying the
    stage back to the prefix never reallocate: the stage stays where it is. A buffer
    that moves touches fresh pages, and right after the writer was forked every page it
    lands on costs a page fault (copy-on-write), about 2 us each on a VM."""
    stage = bytearray(2 * STAGE_BASE)
    del stage[STAGE_BASE:]
    return stage


def _shared_memory() -> mmap.mmap:
    """Anonymous shared memory for the slots (it survives the fork). The part of each
    slot that small steps use is faulted in now rather than on the stepping thread's
    first writes; the rest only once a large item needs it (and it then stays)."""
    shm = mmap.mmap(-1, SLOTS * SLOT_BYTES)
    zeros = bytes(FRAME_BYTES)
    for slot in range(SLOTS):
        shm[slot * SLOT_BYTES:slot * SLOT_BYTES + FRAME_BYTES] = zeros
    return shm


class Handover:
    """Both ends of the hand-over; after the fork each process keeps its own.

    ``wait`` is called when every slot is in use (by default it just blocks)."""

    def __init__(self, wait: Wait = _block) -> None:
        self.wait = wait
        self.data_r, self.data_w = os.pipe()
        self.ack_r, self.ack_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self.data_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self.ack_r, False)
        self.shm = _shared_memory()
        self._view = memoryview(self.shm)
        self.free = list(range(SLOTS))
        #: items encoded but not yet copied into a frame, back to back after the
        #: ``STAGE_BASE`` bytes of prefix
        self.stage = _fresh_stage()
        self._stage_alloc = self.stage.__alloc__()
        #: items not yet sent (staged, or in the frame being filled), and items sent
        self.count = 0
        self.sent = 0
        self._framed = 0  # items already in the frame being filled
        self._slot = -1  # the slot of the frame being filled
        self._at = 0  # where the next spilled bytes go in the shared memory

    # ------------------------------------------------------------------ sides
    def parent_side(self) -> None:
        """Close the writer's ends (in the recording process)."""
        os.close(self.data_r)
        os.close(self.ack_w)
        # made after the fork, so that its pages are this process's own
        self.stage = _fresh_stage()

    def writer_side(self) -> None:
        """Close the recording process's ends (in the writer)."""
        os.close(self.data_w)
        os.close(self.ack_r)

    def close(self) -> None:
        """Close the recording process's ends and the shared memory."""
        for fd in (self.data_w, self.ack_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._view.release()
        self.shm.close()

    # ------------------------------------------------------------------ sending
    def add(self, item: bytes) -> None:
        """Stage one encoded item. (The recorder encodes straight into :attr:`stage`
        instead, counts the item in :attr:`count` and calls :meth:`spill` once the stage
        is ``STAGE_FULL`` long.)"""
        self.stage += item
        self.count += 1
        if len(self.stage) >= STAGE_FULL:
            self.spill()

    def spill(self) -> None:
        """Copy the staged items into the frame being filled; send that frame once it
        holds ``FRAME_BYTES``. Staged items too large for a slot go through the pipe."""
        stage = self.stage
        staged = self.count - self._framed
        if not staged:
            return
        n = len(stage) - STAGE_BASE
        with memoryview(stage) as whole:
            body = whole[STAGE_BASE:]
            if self._slot >= 0 and self._at + n > (self._slot + 1) * SLOT_BYTES:
                self._send_frame()  # no room left in this slot: these items start another
            if HEAD + n > SLOT_BYTES:
                self._send_frame()
                write_all(self.data_w, [_U32.pack(HEAD + n),
                                        _ARRAY_HEAD.pack(_ARRAY32, staged), body])
                self.sent += staged
                self.count -= staged
            else:
                if self._slot < 0:
                    self._slot = self._free_slot()
                    self._at = self._slot * SLOT_BYTES + HEAD
                at = self._at
                self._view[at:at + n] = body
                self._at = at + n
                self._framed += staged
                if self._at - self._slot * SLOT_BYTES >= FRAME_BYTES:
                    self._send_frame()
            body.release()
        del stage[STAGE_BASE:]
        if stage.__alloc__() != self._stage_alloc and n < STAGE_BASE // 3:
            # A large item made it grow (and moving on, it would shrink and grow again):
            # back to its own size, as the same object (the recorder holds it).
            del stage[:]
            stage += bytes(2 * STAGE_BASE)
            del stage[STAGE_BASE:]

    def flush(self) -> None:
        """Send everything added so far (nothing when there is nothing)."""
        self.spill()
        self._send_frame()

    def end(self) -> None:
        """Send what is left and tell the writer the stream is over."""
        self.flush()
        write_all(self.data_w, [_U32.pack(0)])

    def _send_frame(self) -> None:
        """Send the frame being filled (its items were spilled into its slot)."""
        if self._slot < 0:
            return
        start = self._slot * SLOT_BYTES
        self._view[start:start + HEAD] = _ARRAY_HEAD.pack(_ARRAY32, self._framed)
        write_all(self.data_w, [_SHARED_REF.pack(SHARED, self._slot, self._at - start)])
        self.sent += self._framed
        self.count -= self._framed
        self._framed = 0
        self._slot = -1

    def _free_slot(self) -> int:
        """A slot the writer handed back (waiting for one when all are in use)."""
        self._take_acks()
        while not self.free:
            self.wait(self.ack_r)
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


def write_all(fd: int, parts: list[bytes | bytearray | memoryview]) -> None:
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
