"""Raw baselines for bench_mp.py: the same work done with bare pipes, sockets and shared
memory and no runtime, so each retriever figure has its physical limit beside it."""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import multiprocessing as mp
import os
import resource
import select
import socket
import time
from typing import Any

import numpy as np

from retriever.rt.backends.multiprocessing.arrivals import NEVER, ArrivalPredictor
from retriever.rt.transport import streamcopy


def _pipe_child(conn: Any, n: int, spin: float) -> None:
    lat = []
    if not spin:
        for _ in range(n):
            t = conn.recv()
            lat.append(time.perf_counter() - t)
        conn.send(lat)
        return
    # the same arrival spin as a worker's (spin_arrivals): sleep until the predicted
    # window (select: microsecond timeouts), poll without sleeping inside it, block after;
    # polling starts at the worker's timer wake-up (it dozes there instead: this reader
    # spends more CPU for the same punctuality)
    pred = ArrivalPredictor(spin)
    fd = conn.fileno()
    clock = time.perf_counter  # the sender's clock: CLOCK_MONOTONIC, shared
    while len(lat) < n:
        now = clock()
        timeout: float | None = None  # no window ahead: block
        if now < pred.end < NEVER:
            timeout = max(0.0, pred.wake - now)
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            t = conn.recv()
            now = clock()
            lat.append(now - t)
            pred.arrived(t, now)
    conn.send(lat)


def baseline_pipe(hz: float, n: int, spin: float = 0.0) -> list[float]:
    """One-way latency of ``multiprocessing.Pipe`` at ``hz``; ``spin`` > 0: the reader
    spins around predicted arrivals as workers do (``spin_arrivals=spin``)."""
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_pipe_child, args=(b, n, spin))
    p.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for i in range(n):
        d = t0 + i / hz
        while (x := d - time.perf_counter()) > 0:
            time.sleep(x)
        a.send(time.perf_counter())
    lat: list[float] = a.recv()
    p.join()
    return lat


def _seqpacket_child(sock: Any, n: int, conn: Any) -> None:
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    lat = []
    while len(lat) < n:
        ep.poll(1.0)
        lat.append(time.perf_counter() - float(sock.recv(64)))
    conn.send(lat)


def baseline_seqpacket(hz: float, n: int) -> list[float]:
    """The transport the channels use, without any runtime: a datagram on a Unix
    SOCK_SEQPACKET socket, the receiver asleep in epoll (the wake-up limit)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctx = mp.get_context("fork")
    rx, tx = ctx.Pipe()
    p = ctx.Process(target=_seqpacket_child, args=(b, n, tx))
    p.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for i in range(n):
        d = t0 + i / hz
        while (x := d - time.perf_counter()) > 0:
            time.sleep(x)
        a.send(repr(time.perf_counter()).encode())
    lat: list[float] = rx.recv()
    p.join()
    a.close()
    b.close()
    return lat


def baseline_copy(shape: tuple[int, ...], n: int, pace: float = 0.0, *,
                  out: bool = True, runtime_copy: bool = False) -> list[float]:
    """Copy a frame into shared memory and out again (what any transport must do),
    back to back or paced (``pace`` seconds of idle before each copy). ``out=False``:
    the copy in only. ``runtime_copy``: copy in the way the runtime copies a frame
    into a slot (``streamcopy``: streaming stores, two threads, where available)."""
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    fd = os.memfd_create("bench", 0)
    os.ftruncate(fd, frame.nbytes)
    mm = mmap.mmap(fd, frame.nbytes)
    shm = np.frombuffer(mm, dtype=np.uint8).reshape(shape)
    times = []
    for _ in range(n):
        if pace:
            time.sleep(pace)
        t = time.perf_counter()
        # as a copy announced early (the runtime's default for large frames)
        if not (runtime_copy and streamcopy.copy_into(mm, 0, frame, announced=True)):
            np.copyto(shm, frame)
        if out:
            dst = np.empty_like(shm)
            np.copyto(dst, shm)
        times.append(time.perf_counter() - t)
    del shm
    mm.close()
    os.close(fd)
    return times


def _notify_child(sock: Any, fd: int, shape: tuple[int, ...], n: int, conn: Any) -> None:
    mm = mmap.mmap(fd, int(np.prod(shape)))
    lat = []
    for _ in range(n):
        data = sock.recv(64)
        view = np.frombuffer(mm, np.uint8).reshape(shape)  # what a subscriber gets
        _ = int(view[0, 0, 0])
        lat.append(time.perf_counter() - float(data))
        del view
    conn.send(lat)


def baseline_notify(shape: tuple[int, ...], n: int, hz: float = 30,
                    fill: bool = False) -> list[float]:
    """The limit of zero-copy publishing: the frame is already in shared memory, the
    publisher only sends a datagram (the same socket kind as the channels) and the
    subscriber views the memory. ``fill``: the publisher first writes the frame into
    the shared memory (not timed), as a flow filling a loan does, so the caches are
    as cold as after producing a real frame."""
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    fd = os.memfd_create("bench-notify", 0)
    os.ftruncate(fd, frame.nbytes)
    mm = mmap.mmap(fd, frame.nbytes)
    shm = np.frombuffer(mm, np.uint8).reshape(shape)
    shm[...] = frame
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctx = mp.get_context("fork")
    rx, tx = ctx.Pipe()
    p = ctx.Process(target=_notify_child, args=(b, fd, shape, n, tx))
    p.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for i in range(n):
        d = t0 + i / hz
        while (x := d - time.perf_counter()) > 0:
            time.sleep(x)
        if fill:
            np.copyto(shm, frame)
        a.send(repr(time.perf_counter()).encode())
    lat: list[float] = rx.recv()
    p.join()
    a.close()
    b.close()
    del shm
    mm.close()
    os.close(fd)
    return lat


def _bare_loop(hz: float, n: int, conn: Any) -> None:
    period = 1.0 / hz
    t0 = time.monotonic()
    times = []
    for k in range(n):
        d = t0 + k * period
        x = d - time.monotonic()
        if x > 0:
            time.sleep(x)
        times.append(time.monotonic())
    conn.send(times)


def _chain_child(rx: Any, tx: Any) -> None:
    tx.send(rx.recv())


def baseline_startup() -> float:
    ctx = mp.get_context("fork")
    t = time.monotonic()
    conns = [ctx.Pipe() for _ in range(5)]
    procs = [ctx.Process(target=_chain_child, args=(conns[i][1], conns[i + 1][0]))
             for i in range(4)]
    for p in procs:
        p.start()
    conns[0][0].send(1)
    conns[4][1].recv()
    dt = time.monotonic() - t
    for p in procs:
        p.join()
    return dt


# ---------------------------------------------------------------------- the machine itself

HICCUP = 50e-6  # a gap in a spinning loop longer than this is a hiccup


def _spinner(seconds: float, cpu: int, conn: Any) -> None:
    """Spin on ``cpu`` reading the clock; report every gap longer than HICCUP and
    whether this process was switched out for another task meanwhile (an involuntary
    context switch: the guest's own scheduler) or not (the hypervisor, an interrupt)."""
    with contextlib.suppress(OSError, AttributeError):  # pinning is best effort
        os.sched_setaffinity(0, {cpu})
    clock = time.perf_counter
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    gaps: list[tuple[float, bool]] = []
    last = clock()
    end = last + seconds
    while last < end:
        now = clock()
        if now - last > HICCUP:
            n = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            gaps.append((now - last, n != switches))
            switches = n
            now = clock()
        last = now
    conn.send(gaps)


def machine_hiccups(seconds: float) -> dict[str, float]:
    """The machine's own hiccup rate: one process per CPU spins for ``seconds`` and
    counts the gaps longer than 50 µs in its own run (nothing else of ours runs
    meanwhile). Whatever happens to a message in a gap like that, every runtime and
    every raw baseline meets it too; a process that never stops spinning
    (``busy_poll``) meets nothing else. Returns gaps per second per CPU (all, and
    those over 150 µs), milliseconds lost per second per CPU, the share of gaps during
    which the guest's scheduler ran another task, and the longest gap."""
    ctx = mp.get_context("fork")
    ncpu = os.cpu_count() or 1
    pipes = [ctx.Pipe() for _ in range(ncpu)]
    procs = [ctx.Process(target=_spinner, args=(seconds, c, pipes[c][1])) for c in range(ncpu)]
    for p in procs:
        p.start()
    gaps = [g for rx, _ in pipes for g in rx.recv()]
    for p in procs:
        p.join()
    per = seconds * ncpu
    lengths = [g for g, _ in gaps]
    return {"per_s": len(gaps) / per,
            "over150_per_s": sum(1 for g in lengths if g > 150e-6) / per,
            "lost_ms_per_s": 1e3 * sum(lengths) / per,
            "preempted": sum(1 for _, p in gaps if p) / len(gaps) if gaps else 0.0,
            "max": max(lengths, default=0.0)}


def _sleeper(n: int, sleep: float, conn: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK 1 µs, as workers
    clock = time.perf_counter
    late = []
    for _ in range(n):
        t = clock()
        select.select([], [], [], sleep)
        late.append(clock() - t - sleep)
    conn.send(late)


def timer_lateness(n: int, sleep: float = 0.0018) -> list[float]:
    """How late ``n`` timed sleeps of ``sleep`` seconds wake up, in a process of its
    own with a worker's timer slack: a 500 Hz consumer sleeps about that long before
    each message's window opens, so the tail of this decides how early it must ask to
    be woken."""
    ctx = mp.get_context("fork")
    rx, tx = ctx.Pipe()
    p = ctx.Process(target=_sleeper, args=(n, sleep, tx))
    p.start()
    late: list[float] = rx.recv()
    p.join()
    return late
