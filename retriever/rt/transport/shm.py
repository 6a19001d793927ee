"""Anonymous shared-memory slots for large payloads (``memfd``, or nameless POSIX shm).

A :class:`ShmRing` is a ``memfd`` mapped into the producer and, after its file
descriptor travelled over a Unix socket, into the consumer. A memfd has no name in
``/dev/shm``: the memory is released by the kernel when the last process holding a
descriptor or a mapping exits, so nothing can be left behind, even after ``SIGKILL``.
Where memfd is missing (or in portable mode) :mod:`.backing` gives a POSIX shm segment
whose name is removed right after creation, with the same guarantee.

The ring has ``nslots`` equal slots. Each slot starts with a 64-byte header holding two
64-bit words, each written by one side only:

- word 0, the *generation*, written by the producer: odd while it copies a message in,
  the next even value once the message is complete;
- word 1, the *released generation*, written by the consumer when it no longer needs
  the message of that generation (it dropped the message, copied it, or every array
  viewing the slot was garbage collected).

The producer only writes into a slot whose current generation was released (or that
was never used), so a consumer may hand out read-only numpy arrays that view the slot
directly, without copying: the arrays *pin* the slot until they are collected. Because
each word has a single writer, no atomic read-modify-write is needed.

A fresh ring has no memory behind it yet: the kernel allocates and zeroes each 4 KiB
page when it is first written, one page fault at a time, which makes the first copy
into a 6 MB slot several times dearer than the next ones. The producer therefore
*pre-faults* each slot before its first use (``MADV_POPULATE_WRITE``: one system call
that allocates the pages in bulk without changing a byte) and, after each message it
sends, one more slot that was never used, so that from the second message on every
slot it writes is already backed by memory.
"""

from __future__ import annotations

import mmap
import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from retriever.contract.arrays import array_view

from . import backing
from .early import Unready
from .streamcopy import copy_into

HEADER = 64
ALIGN = 64
PAGE = mmap.PAGESIZE
# madvise(MADV_POPULATE_WRITE) (Linux >= 5.14; the stdlib has no name for it before
# Python 3.13): fault a range in for writing without changing its content
MADV_POPULATE_WRITE: int | None = getattr(
    mmap, "MADV_POPULATE_WRITE", 23 if sys.platform.startswith("linux") else None)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class ShmRing:
    """A set of equally sized slots in one anonymous shared-memory file."""

    __slots__ = ("_base_view", "_cold", "_pins", "_readonly", "_seq", "_stride", "_words",
                 "_written", "closed", "fd", "lent", "mm", "nslots", "ring_id", "slot_size")

    def __init__(self, ring_id: int, nslots: int, slot_size: int, fd: int | None = None,
                 mm: mmap.mmap | None = None) -> None:
        self.ring_id = ring_id
        self.nslots = nslots
        self.slot_size = _align(slot_size)
        total = nslots * (HEADER + self.slot_size)
        # producer: slots never written yet, to pre-fault (only the producer's begin()
        # and warm_next() use it; the consumer maps memory the producer faulted in)
        self._cold = list(range(nslots))
        if mm is not None:  # a mapping by name, no descriptor (Windows, see backing)
            fd = -1
        elif fd is None:
            fd = backing.create(f"ring-{ring_id}", total)  # memfd, or POSIX shm
        self.fd = fd
        self.mm = mm if mm is not None else mmap.mmap(fd, total)
        if total >= (2 << 20) and hasattr(mmap, "MADV_HUGEPAGE"):
            try:  # fewer TLB misses when copying frames (where shmem THP is allowed)
                self.mm.madvise(mmap.MADV_HUGEPAGE)
            except OSError:  # not supported here: 4 KiB pages work too
                pass
        self._base_view = memoryview(self.mm)
        self._words = self._base_view.cast("Q")  # plain ints: faster than numpy scalars
        self._readonly = self._base_view.toreadonly()  # what consumers' arrays view
        self._stride = (HEADER + self.slot_size) // 8
        self._written = [0] * nslots  # producer: generation last committed per slot
        self._seq = 0
        self._pins: dict[int, Any] = {}  # consumer: slot -> weakref of its pin array
        # producer: slots lent to a flow (rt/transport/loan.py) -> the weak reference
        # that frees them; never free while the producer process can still see them,
        # whatever the consumer released
        self.lent: dict[int, Any] = {}
        self.closed = False

    @staticmethod
    def bytes_for(nslots: int, slot_size: int) -> int:
        """Size of the mapping of a ring of ``nslots`` slots of ``slot_size`` bytes."""
        return nslots * (HEADER + _align(slot_size))

    @property
    def total(self) -> int:
        """Size of the mapping in bytes."""
        return self.nslots * (HEADER + self.slot_size)

    def _data_offset(self, slot: int) -> int:
        return slot * (HEADER + self.slot_size) + HEADER

    # ---------------------------------------------------------------- producer side
    def free_slot(self) -> int:
        """The lowest slot the consumer released (keeps few pages warm), or -1."""
        words, stride, lent = self._words, self._stride, self.lent
        for slot, gen in enumerate(self._written):
            if (gen == 0 or words[slot * stride + 1] == gen) and slot not in lent:
                return slot
        return -1

    def begin(self, slot: int) -> int:
        """Start writing ``slot``; returns the generation :meth:`commit` will publish."""
        if self._cold and slot in self._cold:
            self._cold.remove(slot)
            self._prefault(slot)
        self._seq += 1
        gen = 2 * self._seq
        self._words[slot * self._stride] = gen - 1  # odd: being written
        return gen

    def write_array(self, slot: int, offset: int, arr: np.ndarray, *,
                    announced: bool = False) -> None:
        """Copy ``arr`` into ``slot`` at byte ``offset`` (one copy, any memory layout);
        ``announced``: the consumer already knows of the message (see ``early.py``)."""
        start = self._data_offset(slot) + offset
        if copy_into(self.mm, start, arr, announced=announced):  # large: streaming stores
            return
        if arr.flags.c_contiguous:  # a plain memcpy, much cheaper than numpy's machinery
            self.mm[start:start + arr.nbytes] = arr.data.cast("B")
            return
        dst = np.frombuffer(self.mm, np.uint8, arr.nbytes, start)
        np.copyto(dst.view(arr.dtype).reshape(arr.shape), arr, casting="no")

    def write_bytes(self, slot: int, offset: int, data: bytes) -> None:
        """Copy raw bytes into ``slot`` at byte ``offset``."""
        start = self._data_offset(slot) + offset
        self.mm[start:start + len(data)] = data

    def lend_view(self, slot: int, nbytes: int) -> np.ndarray:
        """A writable byte array over the first ``nbytes`` of ``slot``, for a flow to
        fill in place (see ``rt/transport/loan.py``)."""
        return np.frombuffer(self.mm, np.uint8, nbytes, self._data_offset(slot))

    def commit(self, slot: int, gen: int) -> None:
        """Publish the slot: the consumer may read the message of generation ``gen``."""
        self._written[slot] = gen
        self._words[slot * self._stride] = gen

    def warm_next(self) -> None:
        """Pre-fault one slot that was never used (call it after a message went out:
        the cost, about 0.3 ms per MB, is then off every message's path)."""
        if self._cold and not self.closed:
            self._prefault(self._cold.pop(0))

    def _prefault(self, slot: int) -> None:
        """Back ``slot`` (never used: nobody reads it) with memory in one go."""
        start = slot * (HEADER + self.slot_size)
        end = start + HEADER + self.slot_size
        if MADV_POPULATE_WRITE is not None:
            lo = start - start % PAGE  # madvise wants a page-aligned start
            try:
                self.mm.madvise(MADV_POPULATE_WRITE, lo, end - lo)
                return
            except OSError:  # an older kernel: touch the pages instead
                pass
        # Write one byte of each page inside the slot's data (a page shared with the
        # neighbouring slots' headers is faulted in when they are written).
        first = -(-(start + HEADER) // PAGE) * PAGE
        if first < end:
            np.frombuffer(self.mm, np.uint8, end - first, first)[::PAGE] = 0

    def abandon(self, slot: int) -> None:
        """The copy into ``slot`` of a message announced early failed: the consumer
        stops waiting for it (the generation word matches no message) and the slot is
        free again."""
        self._words[slot * self._stride] = 0
        self._written[slot] = 0

    def reclaim(self, slot: int) -> None:
        """Make ``slot`` free again: its message was dropped before being sent."""
        self._written[slot] = 0

    # ---------------------------------------------------------------- consumer side
    def valid(self, slot: int, gen: int) -> bool:
        """Whether ``slot`` holds the complete message of generation ``gen``."""
        return 0 <= slot < self.nslots and self._words[slot * self._stride] == gen

    def writing(self, slot: int, gen: int) -> bool:
        """Whether the producer is still copying the message of generation ``gen`` into
        ``slot`` (it was announced early, see ``early.py``)."""
        return 0 <= slot < self.nslots and self._words[slot * self._stride] == gen - 1

    def unready(self, slot: int, gen: int, ready_at: float) -> Unready:
        """What a consumer watches while the message ``gen`` is copied into ``slot``."""
        return Unready(self, slot, gen, ready_at)

    @property
    def words(self) -> memoryview:
        """The mapping as 64-bit words (a slot's generation is word ``slot *``
        :attr:`stride`; the consumer's release is the next one)."""
        return self._words

    @property
    def stride(self) -> int:
        """Words from one slot's header to the next one's."""
        return self._stride

    def release(self, slot: int, gen: int) -> None:
        """Tell the producer that the message ``gen`` in ``slot`` is no longer needed."""
        if not self.closed:
            index = slot * self._stride + 1
            # generations only grow: a late release of an older message (one announced
            # early and dropped) must not hide the release of a newer one
            if gen > self._words[index]:
                self._words[index] = gen

    def pin(self, slot: int, gen: int) -> np.ndarray:
        """A read-only byte array over ``slot``'s data that releases the slot once it
        and every array derived from it are garbage collected.

        numpy makes every view of this array (any dtype, shape or slice) keep this
        array itself as its ``base``, so the slot stays pinned exactly as long as the
        caller can still see its memory.
        """
        arr = np.frombuffer(self._readonly, np.uint8, self.slot_size, self._data_offset(slot))
        self._pins[slot] = weakref.ref(arr, self._unpinner(slot, gen))
        return arr

    def pin_views(self, slot: int, gen: int, refs: list[Any]) -> list[np.ndarray]:
        """Read-only arrays over ``slot``'s data, one per ``[offset, dtype, shape]`` of
        ``refs``, that together pin the slot (see :meth:`pin`). A single array (the
        usual frame) views the mapping directly and pins the slot itself: numpy makes
        its views keep it as their ``base`` too, and one array less is built per
        message."""
        if len(refs) == 1:
            off, dtype, shape = refs[0]
            arr = array_view(self._readonly, dtype, shape,
                             offset=self._data_offset(slot) + off)
            self._pins[slot] = weakref.ref(arr, self._unpinner(slot, gen))
            return [arr]
        pin = self.pin(slot, gen)
        return [array_view(pin, dtype, shape, offset=off) for off, dtype, shape in refs]

    def _unpinner(self, slot: int, gen: int) -> Callable[[Any], None]:
        def unpin(ref: Any) -> None:
            if self._pins.get(slot) is ref:
                del self._pins[slot]
            self.release(slot, gen)
        return unpin

    def read_bytes(self, slot: int, offset: int, length: int) -> bytes:
        """Copy raw bytes out of ``slot``."""
        start = self._data_offset(slot) + offset
        return self.mm[start:start + length]

    def close(self) -> None:
        """Unmap and close. Arrays still pinning slots keep the mapping alive (the
        memory lives on while they, or another process, use it)."""
        self.closed = True
        self._words.release()
        self._readonly.release()
        self._base_view.release()
        try:
            self.mm.close()
        except BufferError:  # pinned arrays still view it: unmapped when they go
            pass
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def aligned(n: int) -> int:
    """``n`` rounded up to the slot alignment (64 bytes)."""
    return _align(n)
