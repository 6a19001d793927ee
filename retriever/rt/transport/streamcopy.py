"""Copying a large frame into a shared-memory slot with non-temporal (streaming) stores.

Why: a frame copied into a slot is read by *another* process, never again by the
producer. An ordinary ``memcpy`` (what ``mmap`` slice assignment and ``np.copyto`` end
in) first reads every destination cache line into the producer's cache ("read for
ownership"), then writes it back later: three memory transfers per line where two
would do, and the producer's caches filled with lines it will not touch again. glibc
switches to streaming stores only for copies much larger than the last-level cache
(hundreds of MB on a server), never for a 6 MB frame. Measured on the 2-core machine
this project is benchmarked on (``bench/bench_framepath.py``), a 1920x1080x3 copy
after 33 ms idle (as at 30 Hz) took about 1.0 ms with ``memcpy`` and 0.75 ms with
streaming stores; frames that fit in a core's L2 cache (640x480x3) are faster with
``memcpy``, hence :data:`STREAM_MIN`.

How: CPython has no way to emit streaming stores and the project has no compiled
extension, so on x86-64 Linux a 61-byte routine (SSE2, which every x86-64 processor
has) is placed in a page of its own, made executable and read-only (never writable and
executable at once), and called through :mod:`ctypes`. It copies whole 64-byte blocks
with unaligned loads and ``movntdq`` stores into a 16-byte aligned destination (slot
data is 64-byte aligned), then runs ``sfence``: the streamed bytes are globally visible
before the slot's generation word is published after them. The caller copies the last
``n % 64`` bytes the ordinary way. The routine's source, for review:

.. code-block:: text

    shr rdx, 6            ; rdx = number of 64-byte blocks (rdi = dst, rsi = src)
    jz done
    loop: movdqu xmm0..xmm3, [rsi], [rsi+16], [rsi+32], [rsi+48]
          movntdq [rdi], [rdi+16], [rdi+32], [rdi+48], xmm0..xmm3
          add rsi, 64; add rdi, 64; dec rdx; jnz loop
    done: sfence; ret

Where the processor has AVX2 (Linux lists ``avx2`` among its flags, which it does only
when the kernel saves the 32-byte registers) a second routine of the same shape is used
instead: each 64-byte block is two 32-byte loads (``vmovdqu ymm``) and two 32-byte
streaming stores (``vmovntdq ymm``, which needs a 32-byte aligned destination), and it
ends with ``sfence`` and ``vzeroupper`` (so that SSE code after it does not pay for
dirty upper register halves). Half the instructions per byte let one core keep more
stores in flight: a paced 1920x1080x3 copy on the machine above took 0.67-0.73 ms with
it against 0.72-0.86 ms with SSE2 (one thread, same run). Where it has AVX-512
(``avx512f``) a third routine moves a whole 64-byte cache line per load and per store
(``vmovdqu64 zmm`` / ``vmovntdq zmm``, 64-byte aligned destination): 8-14 % faster again
than AVX2 there (0.77-0.83 ms against 0.81-0.96 ms in the same runs, on a loaded
machine). ``RETRIEVER_MP_STREAM_COPY=sse2`` (or ``avx2``) keeps to that routine.

Two threads: a single core does not reach the memory bandwidth of the machine (a
cold 6 MB copy is limited by how many cache-line transfers one core keeps in flight),
and at 30 Hz the subscriber's core is idle while the publisher copies. So where this
process may run on two processors, copies of :data:`SPLIT_MIN` bytes or more are
shared with a helper thread (one per process, started on first use), chunk by chunk:
a helper that wakes up late takes fewer chunks rather than delaying the frame, and
one that was preempted mid-chunk (another process took its processor) is left out of
the next copies. Workers that poll without sleeping (``busy_poll=True``) use it only
where a processor is left over. The
routine runs without the GIL (``ctypes`` releases it). Measured as above: 0.9 ms in one
thread, 0.7 ms in two. ``RETRIEVER_MP_COPY_THREADS=1`` keeps every copy in one thread.

Anywhere else (another architecture or system, a kernel that refuses executable
anonymous memory, ``RETRIEVER_MP_STREAM_COPY=0``) :func:`copy_into` returns False and
the caller copies with ``memcpy``; the result is the same bytes either way. A
self-test copies a known pattern once per process before the routine is trusted.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import platform
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

STREAM_ENV = "RETRIEVER_MP_STREAM_COPY"
THREADS_ENV = "RETRIEVER_MP_COPY_THREADS"
#: Arrays smaller than this are copied with memcpy: they fit in a core's L2 cache, where
#: the consumer finds them sooner than in memory.
STREAM_MIN = 2 << 20
#: Arrays at least this large are copied by two threads (see the module docs).
SPLIT_MIN = 2 << 20
#: The unit of work two threads share a large copy in (about 50 µs of copying).
CHUNK = 512 << 10
#: Waiting longer than this for the helper's last chunk (a few chunks' worth) means
#: another process took its core: the next :data:`SKIP_COPIES` copies go without it.
LATE_WAIT = 0.0003
SKIP_COPIES = 30
_BLOCK = 64
# the routine in the module docs, assembled (GNU as, Intel syntax), System V calling
# convention: (dst, src, nbytes), copies nbytes // 64 * 64 bytes
_CODE = bytes.fromhex(
    "48c1ea067433"
    "f30f6f06" "f30f6f4e10" "f30f6f5620" "f30f6f5e30"
    "660fe707" "660fe74f10" "660fe75720" "660fe75f30"
    "4883c640" "4883c740" "48ffca" "75cd"
    "0faef8" "c3"
)

# the same with 32-byte AVX2 loads and stores (``vmovdqu ymm`` / ``vmovntdq ymm``: the
# destination must be 32-byte aligned), then ``sfence`` and ``vzeroupper``
_CODE_AVX2 = bytes.fromhex(
    "48c1ea06741f"
    "c5fe6f06" "c5fe6f4e20"
    "c5fde707" "c5fde74f20"
    "4883c640" "4883c740" "48ffca" "75e1"
    "0faef8" "c5f877" "c3"
)
# the same with 64-byte AVX-512 loads and stores (``vmovdqu64 zmm`` / ``vmovntdq zmm``,
# one whole cache line per store: the destination must be 64-byte aligned)
_CODE_AVX512 = bytes.fromhex(
    "48c1ea067419"
    "62f1fe486f06" "62f17d48e707"
    "4883c640" "4883c740" "48ffca" "75e7"
    "0faef8" "c5f877" "c3"
)
#: The routines, best first: (name, machine code, destination alignment in bytes); each
#: is used where Linux lists its name among the processor's flags (sse2: everywhere).
ROUTINES = (("avx512f", _CODE_AVX512, 64), ("avx2", _CODE_AVX2, 32), ("sse2", _CODE, 16))

_Copier = Callable[[int, int, int], None]


def env_enabled() -> bool:
    """Whether ``RETRIEVER_MP_STREAM_COPY`` leaves streaming copies on (the default)."""
    return os.environ.get(STREAM_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def supported() -> bool:
    """Whether this platform can run the routine (x86-64 Linux)."""
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The processor's feature flags as Linux reports them (empty where unreadable).
    Linux lists ``avx2`` only when the kernel also saves the YMM registers."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def _wanted(only: str) -> list[tuple[str, bytes, int]]:
    """The routines this processor can run, best first (``only``: that one, if it can;
    the SSE2 one runs on every x86-64 processor)."""
    flags = _cpu_flags()
    return [r for r in ROUTINES
            if (r[0] == "sse2" or r[0] in flags) and only in ("", r[0])]


@functools.cache
def _load(code: bytes, align: int) -> tuple[_Copier, mmap.mmap] | None:
    """``code`` made callable in a page of its own (kept alive with it), once it passed
    the self-test; None where the system refuses executable memory."""
    libc = ctypes.CDLL(None, use_errno=True)
    mprotect = libc.mprotect
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    mprotect.restype = ctypes.c_int
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError:
        return None
    page[:len(code)] = code
    anchor = ctypes.c_char.from_buffer(page)
    addr = ctypes.addressof(anchor)
    del anchor  # the page itself stays mapped as long as ``page`` lives
    if mprotect(addr, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        return None  # e.g. SELinux execmem denied: memcpy it is
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    fn: _Copier = proto(addr)
    if not _self_test(fn, align):
        return None
    return fn, page


def _copier() -> tuple[_Copier, mmap.mmap, int, str] | None:
    """The best routine that runs here: callable, its page, the destination alignment it
    needs and its name; None where none can run. ``RETRIEVER_MP_STREAM_COPY`` set to
    a routine's name (``sse2``, ``avx2``, ``avx512f``) keeps to that one."""
    only = os.environ.get(STREAM_ENV, "").strip().lower()
    return _best(only if only in _NAMES else "")


_NAMES = frozenset(name for name, _, _ in ROUTINES)


@functools.cache
def _best(only: str) -> tuple[_Copier, mmap.mmap, int, str] | None:
    if not supported() or not hasattr(mmap, "PROT_EXEC"):
        return None
    for name, code, align in _wanted(only):
        got = _load(code, align)
        if got is not None:
            return got[0], got[1], align, name
    return None


def routine() -> str:
    """The name of the routine large copies use here (``avx512f``, ``avx2``, ``sse2``),
    or ``""``
    when they are left to ``memcpy``."""
    got = _copier() if env_enabled() else None
    return got[3] if got is not None else ""


def _address(arr: np.ndarray) -> int:
    addr: int = arr.__array_interface__["data"][0]
    return addr


def _self_test(fn: _Copier, align: int) -> bool:
    """Copy a known pattern, unaligned source, with a tail, and compare."""
    src = (np.arange(4096 + 77, dtype=np.uint32) * 2654435761).astype(np.uint32).view(np.uint8)
    src = src[3:3 + 4096 + 64]  # odd source alignment
    dst = np.zeros(len(src) + 128, np.uint8)
    off = -_address(dst) % align
    n = len(src) - 5
    fn(_address(dst) + off, _address(src), n)
    whole = n - n % _BLOCK
    return bool((dst[off:off + whole] == src[:whole]).all()
                and not dst[off + whole:].any() and not dst[:off].any())


class _Helper:
    """A thread that shares large copies with the calling thread (see the module docs);
    one per process, started on first use.

    A copy is cut into :data:`CHUNK` byte chunks that both threads claim one at a time
    under a lock, so a helper that wakes up late (its processor was busy) takes fewer
    chunks, or none, instead of delaying the copy: the caller never waits for more than
    the one chunk the helper is copying when the caller runs out of chunks."""

    __slots__ = ("_active", "_closed", "_done", "_go", "_job", "_lock", "_next", "_serial",
                 "_skip", "_waiting", "fn", "pid")

    def __init__(self, fn: _Copier) -> None:
        self.fn = fn
        self.pid = os.getpid()  # a forked child starts its own helper
        self._lock = threading.Lock()  # guards every field below
        self._job = (0, 0, 0)  # destination, source, bytes (a multiple of _BLOCK)
        self._next = 0  # offset of the next unclaimed chunk
        self._closed = True  # no chunk of the current job may be claimed any more
        self._active = False  # the helper is copying a chunk
        self._waiting = False  # the caller waits for that chunk
        self._serial = threading.Lock()  # one copy at a time
        self._skip = 0  # copies left to make alone after the helper was preempted
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        threading.Thread(target=self._serve, name="retriever-copy", daemon=True).start()

    def _claim(self) -> tuple[int, int, int] | None:
        """The next chunk to copy, or None (call with the lock held)."""
        dst, src, n = self._job
        off = self._next
        if self._closed or off >= n:
            return None
        size = min(CHUNK, n - off)
        self._next = off + size
        return dst + off, src + off, size

    def _serve(self) -> None:
        lock = self._lock
        while True:
            self._go.acquire()
            while True:
                with lock:
                    chunk = self._claim()
                    self._active = chunk is not None
                    fn = self.fn  # the routine of the current copy
                if chunk is None:
                    break
                fn(*chunk)  # releases the GIL while it copies
                with lock:
                    self._active = False
                    if self._waiting:
                        self._waiting = False
                        self._done.release()

    def copy(self, fn: _Copier, dst: int, src: int, n: int) -> bool:
        """Copy ``n // 64 * 64`` bytes with ``fn`` and the helper's help; False (nothing
        copied) if another thread is using the helper."""
        if self._skip:  # the other core was busy lately: copy alone for a while
            self._skip -= 1
            return False
        if not self._serial.acquire(blocking=False):
            return False
        lock = self._lock
        try:
            with lock:
                self.fn = fn
                self._job = (dst, src, n - n % _BLOCK)
                self._next = 0
                self._closed = False
            self._go.release()
            try:
                while True:
                    with lock:
                        chunk = self._claim()
                        if chunk is None:  # all claimed: wait for the helper's last one
                            self._closed = True
                            self._waiting = wait = self._active
                            break
                    fn(*chunk)
                if wait:
                    t = time.perf_counter()
                    self._done.acquire()
                    if time.perf_counter() - t > LATE_WAIT:  # preempted mid-chunk
                        self._skip = SKIP_COPIES
            except BaseException:  # a signal handler raised: the run is stopping
                self._settle()
                raise
        finally:
            self._serial.release()
        return True

    def _settle(self) -> None:
        """After an interrupted copy: return only once the helper no longer writes into
        the destination (the caller may reuse it), consuming its signal if it sent one."""
        while True:
            with self._lock:
                self._closed = True
                if not self._active:
                    self._waiting = False
                    break
            time.sleep(0.0001)
        self._done.acquire(blocking=False)


_helpers: dict[int, _Helper] = {}


_busy_processes = 0  # processes of this run that never sleep (configure_busy)


_cpus: dict[int, int] = {}  # process id -> processors (asked once: a system call)


def cpus() -> int:
    """How many processors this process may run on (asked once per process)."""
    pid = os.getpid()
    n = _cpus.get(pid)
    if n is None:
        if hasattr(os, "sched_getaffinity"):
            n = len(os.sched_getaffinity(0))
        else:
            n = os.cpu_count() or 1
        _cpus.clear()  # a forked child asks again
        _cpus[pid] = n
    return n


def configure_busy(processes: int) -> None:
    """Tell this process that ``processes`` processes of the run (itself included) keep
    a processor busy all the time (``busy_poll=True``): the helper thread is only used
    where a processor is left over for it."""
    global _busy_processes
    _busy_processes = processes


def copy_threads(announced: bool = False) -> int:
    """How many threads share a large copy: ``RETRIEVER_MP_COPY_THREADS`` (1 or 2),
    else 2 where this process may run on a processor that nothing of the run keeps
    busy (see :func:`configure_busy`) and, for a copy the consumer was told about
    beforehand (``announced``, see ``early.py``), on one more: the consumer wakes up
    and prepares the message during that copy, on the processor a helper would take."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw in ("1", "2"):
        return int(raw)
    return 2 if cpus() >= max(2, _busy_processes + 1) + announced else 1


def _helper(fn: _Copier, announced: bool = False) -> _Helper | None:
    """This process's copy helper (None: copy in one thread)."""
    if copy_threads(announced) < 2:
        return None
    helper = _helpers.get(os.getpid())
    if helper is None:
        _helpers.clear()  # a forked child: its parent's helper thread is not here
        helper = _helpers[os.getpid()] = _Helper(fn)
    return helper


def available() -> bool:
    """Whether streaming copies are on and work in this process."""
    return env_enabled() and _copier() is not None


def copy_into(mm: mmap.mmap, start: int, arr: np.ndarray, *, announced: bool = False) -> bool:
    """Copy the C-contiguous ``arr`` into ``mm`` at byte ``start`` with streaming
    stores; False (nothing copied) when that does not apply here: ``arr`` is small,
    not contiguous, the destination is not aligned for the routine, or no routine is
    available (see the module docs). The caller then copies it itself. ``announced``:
    the consumer was told about the message before this copy (``early.py``) and works
    meanwhile, so the helper thread joins only where a processor is left for it too."""
    n = arr.nbytes
    if n < STREAM_MIN or not arr.flags.c_contiguous or not env_enabled():
        return False
    got = _copier()
    if got is None:
        return False
    dst = np.frombuffer(mm, np.uint8, n, start)  # an export: mm stays mapped meanwhile
    daddr = _address(dst)
    if daddr % got[2]:
        return False
    saddr = _address(arr)
    helper = _helper(got[0], announced) if n >= SPLIT_MIN else None
    if helper is None or not helper.copy(got[0], daddr, saddr, n):
        got[0](daddr, saddr, n)
    whole = n - n % _BLOCK
    if whole < n:  # the last bytes, fewer than a block
        dst[whole:] = arr.reshape(-1).view(np.uint8)[whole:]
    return True


__all__ = ["SPLIT_MIN", "STREAM_ENV", "STREAM_MIN", "THREADS_ENV", "available",
           "configure_busy", "copy_into", "copy_threads", "cpus", "env_enabled", "supported"]
