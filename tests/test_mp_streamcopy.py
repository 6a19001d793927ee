"""Large frames copied into shared-memory slots with streaming stores, shared between two
threads (rt/transport/streamcopy.py): every byte arrives, in every mode, and a frame a
subscriber still holds is never overwritten."""

from __future__ import annotations

import gc
import mmap
import multiprocessing as mp
import threading
from typing import Any

import numpy as np
import pytest

from retriever.contract.wire import MessageCodec
from retriever.rt.transport import backing, channel_pair, open_in, open_out, streamcopy

BIG = streamcopy.STREAM_MIN


@pytest.fixture(params=["two threads", "one thread", "sse2", "avx2", "memcpy"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Streaming stores shared by two threads (the default where two processors are
    free), in one thread, with the SSE2 or the AVX2 routine only (where the processor
    has AVX2 or AVX-512 another one is the default; without AVX2 the AVX2 case falls
    back to memcpy), and turned off (plain memcpy)."""
    how: str = request.param
    monkeypatch.setenv(streamcopy.THREADS_ENV, "1" if how == "one thread" else "2")
    monkeypatch.setenv(streamcopy.STREAM_ENV, {"memcpy": "0"}.get(how, how if "sse" in how
                                                                    or "avx" in how else "1"))
    return how


def _pattern(nbytes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


def test_copy_into_copies_every_byte(mode: str) -> None:
    mm = mmap.mmap(-1, 3 * BIG + 4096)
    try:
        # sizes with and without a tail beyond the last 64-byte block and chunk
        for n, seed in ((BIG, 1), (BIG + 1, 2), (BIG + 63, 3), (3 * BIG - 640 + 17, 4)):
            src = _pattern(n, seed)
            mm[:] = b"\xee" * len(mm)
            used = streamcopy.copy_into(mm, 64, src)
            assert used == (mode != "memcpy" and streamcopy.supported() and (
                mode != "avx2" or "avx2" in streamcopy._cpu_flags()))
            if not used:
                mm[64:64 + n] = src.data
            got = np.frombuffer(mm, np.uint8, n + 128)
            assert (got[:64] == 0xEE).all() and (got[64 + n:] == 0xEE).all()  # nothing more
            np.testing.assert_array_equal(got[64:64 + n], src)
            del got
    finally:
        mm.close()


def test_small_strided_or_unaligned_arrays_are_left_to_memcpy() -> None:
    mm = mmap.mmap(-1, 2 * BIG + 4096)
    try:
        assert not streamcopy.copy_into(mm, 64, _pattern(BIG // 2, 0))  # fits in a cache
        strided = _pattern(2 * BIG, 0)[::2]
        assert not streamcopy.copy_into(mm, 64, strided)
        assert not streamcopy.copy_into(mm, 8, _pattern(BIG, 0))  # destination unaligned
    finally:
        mm.close()


def test_the_best_routine_the_processor_has_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if not streamcopy.available():
        pytest.skip("no streaming copies here (not x86-64 Linux, or no executable memory)")
    flags = streamcopy._cpu_flags()
    best = next(name for name, _, _ in streamcopy.ROUTINES if name in flags or name == "sse2")
    assert streamcopy.routine() == best
    monkeypatch.setenv(streamcopy.STREAM_ENV, "sse2")
    assert streamcopy.routine() == "sse2"
    mm = mmap.mmap(-1, BIG + 4096)
    try:  # 16-byte aligned is enough for SSE2 stores; AVX2 stores need 32, AVX-512 64
        src = _pattern(BIG, 5)
        assert streamcopy.copy_into(mm, 16, src)
        np.testing.assert_array_equal(np.frombuffer(mm, np.uint8, BIG, 16), src)
        monkeypatch.setenv(streamcopy.STREAM_ENV, "1")
        assert streamcopy.copy_into(mm, 16, src) == (best == "sse2")
        assert streamcopy.copy_into(mm, 32, src) == (best != "avx512f")
        assert streamcopy.copy_into(mm, 64, src)
        np.testing.assert_array_equal(np.frombuffer(mm, np.uint8, BIG, 64), src)
    finally:
        mm.close()


def test_the_switch_turns_streaming_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(streamcopy.STREAM_ENV, "0")
    assert not streamcopy.available()
    mm = mmap.mmap(-1, BIG + 4096)
    try:
        assert not streamcopy.copy_into(mm, 64, _pattern(BIG, 0))
    finally:
        mm.close()


def test_two_callers_at_once_both_copy_whole_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper serves one copy at a time; a second caller copies on its own."""
    monkeypatch.setenv(streamcopy.THREADS_ENV, "2")
    mms = [mmap.mmap(-1, BIG + 4096) for _ in range(2)]
    srcs = [_pattern(BIG + 5, seed) for seed in (7, 8)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for _ in range(20):
                if not streamcopy.copy_into(mms[i], 64, srcs[i]):
                    mms[i][64:64 + len(srcs[i])] = srcs[i].data
                got = np.frombuffer(mms[i], np.uint8, len(srcs[i]), 64)
                np.testing.assert_array_equal(got, srcs[i])
                del got
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for mm in mms:
        mm.close()
    assert not errors, errors


def _child_copy(conn: Any) -> None:
    mm = mmap.mmap(-1, BIG + 4096)
    src = _pattern(BIG + 9, 5)
    ok = streamcopy.copy_into(mm, 64, src)
    if not ok:
        mm[64:64 + len(src)] = src.data
    same = bool((np.frombuffer(mm, np.uint8, len(src), 64) == src).all())
    conn.send((ok, same))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_a_forked_worker_copies_with_its_own_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers are forked after the parent may have started its helper thread (which a
    child does not inherit): the child starts its own and copies whole frames."""
    monkeypatch.setenv(streamcopy.THREADS_ENV, "2")
    mm = mmap.mmap(-1, BIG + 4096)
    streamcopy.copy_into(mm, 64, _pattern(BIG, 0))  # the parent's helper exists now
    mm.close()
    ctx = mp.get_context("fork")
    rx, tx = ctx.Pipe()
    p = ctx.Process(target=_child_copy, args=(tx,))
    p.start()
    ok, same = rx.recv()
    p.join(10)
    assert same and ok == streamcopy.available()


def test_frames_a_subscriber_holds_are_never_overwritten(mode: str) -> None:
    """Frames large enough for streaming stores, through a real channel: the held ones
    keep their content while new frames fill the other slots."""
    a, b = channel_pair(framed=backing.env_portable())
    out = open_out(a, block=False, capacity=64, nslots=3)
    inc = open_in(b, {0: MessageCodec()}, block=False, capacity=64)
    out.poll()
    shape = (1080, 1920, 3)  # a 1080p frame, 6 MB: above STREAM_MIN
    frames = [_pattern(int(np.prod(shape)), n).reshape(shape) for n in range(3)]
    held: list[dict[str, Any]] = []
    try:
        for n in range(9):
            out.send(0, float(n), {"image": frames[n % 3], "n": n})
            for data in inc.receive():
                got = inc.open(data)
                assert got is not None
                held.append(got[2])
            # keep every other frame; the others are released by reference counting
            # alone (no collection here: in a process as large as the whole suite's,
            # each full collection cost almost a second)
            held = [m for m in held if m["n"] % 2 == 0]
        assert [m["n"] for m in held] == [0, 2, 4, 6, 8]
        for m in held:
            assert not m["image"].flags.writeable
            np.testing.assert_array_equal(m["image"], frames[m["n"] % 3])
    finally:
        held.clear()
        gc.collect()
        out.close()
        for name in out.unopened():
            backing.unlink(name)
        inc.close()
        a.close()
        b.close()


def test_busy_polling_workers_leave_the_copy_to_one_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With busy_poll=True every worker keeps a processor busy: a helper thread would
    only take turns with them, so it is used only where a processor is left over."""
    monkeypatch.delenv(streamcopy.THREADS_ENV, raising=False)
    try:
        streamcopy.configure_busy(streamcopy.cpus())
        assert streamcopy.copy_threads() == 1
        streamcopy.configure_busy(0)
        assert streamcopy.copy_threads() == (2 if streamcopy.cpus() >= 2 else 1)
        monkeypatch.setenv(streamcopy.THREADS_ENV, "1")
        assert streamcopy.copy_threads() == 1
    finally:
        streamcopy.configure_busy(0)


def test_a_copy_announced_early_leaves_a_processor_to_its_consumer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer of an early-announced copy works during it: the helper joins only
    where a third processor is free (unless RETRIEVER_MP_COPY_THREADS says otherwise)."""
    monkeypatch.delenv(streamcopy.THREADS_ENV, raising=False)
    for n, alone, announced in ((2, 2, 1), (3, 2, 2), (1, 1, 1)):
        monkeypatch.setattr(streamcopy, "cpus", lambda n=n: n)
        assert streamcopy.copy_threads() == alone
        assert streamcopy.copy_threads(announced=True) == announced
    monkeypatch.setenv(streamcopy.THREADS_ENV, "2")
    assert streamcopy.copy_threads(announced=True) == 2
