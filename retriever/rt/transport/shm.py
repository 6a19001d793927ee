"""Anonymous shared-memory rings for large payloads (Linux ``memfd``).

A :class:`ShmRing` is a ``memfd`` mapped into the producer and, after its file
descriptor travelled over a Unix socket, into the consumer. A memfd has no name in
``/dev/shm``: the memory is released by the kernel when the last process holding a
descriptor or a mapping exits, so nothing can be left behind, even after ``SIGKILL``.

The ring has ``nslots`` equal slots. Each slot starts with a 64-byte header whose first
word is a generation counter used as a sequence lock: the producer stores an odd value
while it writes and the next even value when the slot is complete; the consumer checks
the generation named by the message before and after copying out. A mismatch means the
producer already reused the slot (the message was overtaken by newer ones) and the
message is dropped whole.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

HEADER = 64
ALIGN = 64


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class ShmRing:
    """A ring of equally sized slots in one anonymous shared-memory file."""

    __slots__ = ("_buf", "_gens", "_next", "_seq", "fd", "mm", "nslots", "ring_id", "slot_size")

    def __init__(self, ring_id: int, nslots: int, slot_size: int, fd: int | None = None
                 ) -> None:
        self.ring_id = ring_id
        self.nslots = nslots
        self.slot_size = _align(slot_size)
        total = nslots * (HEADER + self.slot_size)
        if fd is None:
            fd = os.memfd_create(f"retriever-ring-{ring_id}", os.MFD_CLOEXEC)
            os.ftruncate(fd, total)
        self.fd = fd
        self.mm = mmap.mmap(fd, total)
        if total >= (2 << 20) and hasattr(mmap, "MADV_HUGEPAGE"):
            try:  # fewer TLB misses when copying frames (where shmem THP is allowed)
                self.mm.madvise(mmap.MADV_HUGEPAGE)
            except OSError:  # not supported here: 4 KiB pages work too
                pass
        self._buf = np.frombuffer(self.mm, dtype=np.uint8)
        stride = (HEADER + self.slot_size) // 8
        self._gens = np.frombuffer(self.mm, dtype=np.uint64)[::stride]
        self._next = 0
        self._seq = 0

    @property
    def total(self) -> int:
        """Size of the mapping in bytes."""
        return self.nslots * (HEADER + self.slot_size)

    def _data_offset(self, slot: int) -> int:
        return slot * (HEADER + self.slot_size) + HEADER

    # ---------------------------------------------------------------- producer side
    def next_slot(self) -> int:
        """The slot the next :meth:`begin` will use (the oldest one)."""
        return self._next

    def begin(self) -> tuple[int, int]:
        """Claim the oldest slot for writing; returns (slot, generation to publish)."""
        slot = self._next
        self._next = (slot + 1) % self.nslots
        self._seq += 1
        gen = 2 * self._seq
        self._gens[slot] = gen - 1  # odd: being written
        return slot, gen

    def write_array(self, slot: int, offset: int, arr: np.ndarray) -> None:
        """Copy ``arr`` into ``slot`` at byte ``offset`` (one copy, any memory layout)."""
        start = self._data_offset(slot) + offset
        dst = self._buf[start:start + arr.nbytes].view(arr.dtype).reshape(arr.shape)
        np.copyto(dst, arr, casting="no")

    def write_bytes(self, slot: int, offset: int, data: bytes) -> None:
        """Copy raw bytes into ``slot`` at byte ``offset``."""
        start = self._data_offset(slot) + offset
        self._buf[start:start + len(data)] = np.frombuffer(data, dtype=np.uint8)

    def commit(self, slot: int, gen: int) -> None:
        """Publish the slot: readers holding ``gen`` may now copy it."""
        self._gens[slot] = gen

    # ---------------------------------------------------------------- consumer side
    def valid(self, slot: int, gen: int) -> bool:
        """Whether ``slot`` still holds the message of generation ``gen``."""
        return bool(self._gens[slot] == gen)

    def read_array(self, slot: int, offset: int, out: np.ndarray) -> np.ndarray:
        """Copy the array at ``offset`` of ``slot`` into ``out`` (same dtype and shape;
        the caller checks :meth:`valid` afterwards)."""
        start = self._data_offset(slot) + offset
        src = self._buf[start:start + out.nbytes].view(out.dtype).reshape(out.shape)
        np.copyto(out, src, casting="no")
        return out

    def read_bytes(self, slot: int, offset: int, length: int) -> bytes:
        """Copy raw bytes out of ``slot``."""
        start = self._data_offset(slot) + offset
        return self._buf[start:start + length].tobytes()

    def close(self) -> None:
        """Unmap and close (the memory lives on while another process maps it)."""
        self._buf = np.empty(0, dtype=np.uint8)
        self._gens = np.empty(0, dtype=np.uint64)
        try:
            self.mm.close()
        except BufferError:  # an exported view is still alive; the GC will unmap
            pass
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def aligned(n: int) -> int:
    """``n`` rounded up to the slot alignment (64 bytes)."""
    return _align(n)
