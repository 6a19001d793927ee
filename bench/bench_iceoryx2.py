"""iceoryx2 (a native zero-copy IPC library, Python wheels on PyPI) measured against a raw
multiprocessing ``Pipe`` and against retriever's multiprocessing backend, in the same run.

    .venv/bin/pip install iceoryx2      # not a project dependency: evaluated only
    .venv/bin/python bench/bench_iceoryx2.py [--workload small|frames] [--seconds S]
                                             [--repeats N] [--lock /tmp/retriever-heavy.lock]

Workloads (one process publishes, a forked one receives; latency is the publisher's
``perf_counter`` stamp to the receiver's, both on the same clock):
  small   a 64-byte message at 500 Hz.
  frames  a 1920x1080x3 uint8 frame at 30 Hz. The stamp is taken before the frame is
          written anywhere, so every variant pays for moving the frame once: Pipe
          sends its bytes, iceoryx2 copies it into a loaned sample (the subscriber then
          reads it in place), retriever copies it into a slot. iceoryx2's figure from
          a second stamp taken after the fill (the publish alone) is printed too.

Variants, interleaved within every repeat (one after the other, then again):
  pipe           raw ``multiprocessing.Pipe`` (bench/_raw.py; for frames, the frame's
                 bytes with ``send_bytes`` into a preallocated buffer).
  raw seqpacket  (small only) the socket kind retriever's channels use, receiver asleep
                 in epoll, no runtime (bench/_raw.py): the transport iceoryx2 would replace.
  ice waitset    iceoryx2 publish-subscribe; the publisher also notifies an iceoryx2
                 event service and the subscriber sleeps in a ``WaitSet`` attached to
                 its listener (the fair match for a sleeping ``Pipe`` receiver).
  ice listener   the same, sleeping in ``Listener.timed_wait`` without a WaitSet.
  ice poll       iceoryx2 publish-subscribe, no event: the subscriber calls
                 ``receive()`` in a loop and never sleeps.
  ours           retriever's multiprocessing backend (bench_mp.py's runs), default options.
  ours busy      the same with ``busy_poll=True`` (workers never sleep).
For frames, also: the notify-only limit (frame already in shared memory, one datagram;
bench/_raw.py) and retriever's loan (``Flow.loan`` filled with ``np.copyto``).

CPU is the processor time of every process of the variant (publisher, receiver, and for
retriever its workers and supervisor) divided by the wall time of the run: 1.00 is one
core busy for the whole run. ``--lock`` holds that file (``flock``) for one repeat (all
variants of every workload, about a minute) at a time, so others sharing the machine
run between repeats rather than during them.
Exits 0 with "skipped: ..." when iceoryx2 is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import multiprocessing as mp
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from _mp_runs import frames_run, latency_run
from _raw import baseline_notify, baseline_pipe, baseline_seqpacket

try:
    import iceoryx2 as iox
except ImportError:  # evaluated only, never a dependency: the bench says so and stops
    iox = None

SMALL_HZ = 500.0
FRAME_HZ = 30.0
FRAME_SHAPE = (1080, 1920, 3)
WAIT_S = 1.0  # receivers give up this long after the last message they saw


class Small(ctypes.Structure):
    """The 64-byte small message: stamp, sequence number, padding."""

    _fields_ = [("stamp", ctypes.c_double), ("n", ctypes.c_uint64),
                ("pad", ctypes.c_uint8 * 48)]


class FrameHeader(ctypes.Structure):
    """iceoryx2 user header of a frame sample: the two stamps and the sequence number."""

    _fields_ = [("stamp", ctypes.c_double), ("filled", ctypes.c_double),
                ("n", ctypes.c_uint64)]


# ---------------------------------------------------------------------- measuring

Run = Callable[[], tuple[list[float], int, list[float] | None]]


def _cpu() -> float:
    """Processor time of this process and of its waited-for children so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Result:
    """Latencies (seconds) of one run, and the cores it kept busy on average."""

    def __init__(self, lat: list[float], cores: float, sent: int) -> None:
        self.lat = lat
        self.cores = cores
        self.sent = sent

    def p(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.lat), q)) if self.lat else float("nan")


def measured(fn: Run) -> tuple[Result, Result | None]:
    """Run ``fn``, timing its CPU and wall time; the second result is the run's figure
    from its second stamp, if it has one (same run, so no CPU of its own)."""
    c0, t0 = _cpu(), time.monotonic()
    lat, sent, second = fn()
    wall = time.monotonic() - t0
    res = Result(lat, (_cpu() - c0) / wall, sent)
    return res, (None if second is None else Result(second, float("nan"), sent))


@contextlib.contextmanager
def held(path: str | None) -> Iterator[None]:
    """Hold ``path`` with flock for the duration (nothing when no path)."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pace(t0: float, i: int, hz: float) -> None:
    d = t0 + i / hz
    while (x := d - time.perf_counter()) > 0:
        time.sleep(x)


# ---------------------------------------------------------------------- raw Pipe, frames

def _pipe_frames_child(conn: Any, shape: tuple[int, ...], n: int, out: Any) -> None:
    buf = bytearray(int(np.prod(shape)))
    lat = []
    for _ in range(n):
        stamp = conn.recv()
        conn.recv_bytes_into(buf)
        view = np.frombuffer(buf, np.uint8).reshape(shape)
        _ = int(view[0, 0, 0])
        lat.append(time.perf_counter() - stamp)
    out.send(lat)


def pipe_frames(shape: tuple[int, ...], n: int, hz: float) -> list[float]:
    """A frame's bytes through a raw Pipe (stamp first, then the bytes), received into
    a preallocated buffer and viewed as an array."""
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    flat = memoryview(frame.reshape(-1))  # send_bytes counts a memoryview's first axis
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    rx, tx = ctx.Pipe()
    p = ctx.Process(target=_pipe_frames_child, args=(b, shape, n, tx))
    p.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for i in range(n):
        _pace(t0, i, hz)
        a.send(time.perf_counter())
        a.send_bytes(flat)
    lat: list[float] = rx.recv()
    p.join()
    return lat


# ---------------------------------------------------------------------- iceoryx2

def _services(node: Any, name: str, frames: bool, nbytes: int) -> tuple[Any, Any]:
    """The publish-subscribe service and the event service named ``name``."""
    builder = node.service_builder(iox.ServiceName.new(name))
    if frames:
        ps = (builder.publish_subscribe(iox.Slice[ctypes.c_uint8]).user_header(FrameHeader)
              .subscriber_max_buffer_size(2).open_or_create())
    else:
        ps = builder.publish_subscribe(Small).subscriber_max_buffer_size(16).open_or_create()
    ev = node.service_builder(iox.ServiceName.new(name)).event().open_or_create()
    return ps, ev


def _drain(sub: Any, frames: bool, shape: tuple[int, ...], lat: list[float],
           filled: list[float], last: int) -> int:
    """Receive every waiting sample, appending its latencies; the last sequence number."""
    while (s := sub.receive()) is not None:
        if frames:
            view = np.frombuffer(s.payload().as_memory_view(), np.uint8).reshape(shape)
            _ = int(view[0, 0, 0])  # touch the frame, as a consumer would
            now = time.perf_counter()
            h = s.user_header().contents
            lat.append(now - h.stamp)
            filled.append(now - h.filled)
            last = int(h.n)
            del view
        else:
            now = time.perf_counter()
            c = s.payload().contents
            lat.append(now - c.stamp)
            last = int(c.n)
        s.delete()  # hand the sample back at once
    return last


def _ice_child(name: str, mode: str, frames: bool, n: int, shape: tuple[int, ...],
               conn: Any) -> None:
    """The receiver: open the services once the publisher made them, then collect
    latencies until the last message or WAIT_S of silence."""
    conn.recv()  # the publisher created the services
    node = iox.NodeBuilder.new().create(iox.ServiceType.Ipc)
    ps, ev = _services(node, name, frames, int(np.prod(shape)))
    sub = ps.subscriber_builder().create()
    listener = ev.listener_builder().create()
    waitset = iox.WaitSetBuilder.new().create(iox.ServiceType.Ipc)
    guard = waitset.attach_notification(listener)
    timeout = iox.Duration.from_secs_f64(WAIT_S)
    lat: list[float] = []
    filled: list[float] = []
    last = -1
    conn.send("ready")
    quiet_since = time.monotonic()
    while last < n - 1 and time.monotonic() - quiet_since < WAIT_S:
        seen = len(lat)
        if mode == "waitset":
            waitset.wait_and_process_with_timeout(timeout)
            listener.try_wait()  # consume the notifications the WaitSet reported
        elif mode == "listener":
            listener.timed_wait(timeout)
        last = _drain(sub, frames, shape, lat, filled, last)
        if len(lat) != seen:
            quiet_since = time.monotonic()
    conn.send((lat, filled))
    # release explicitly: a forked child ends with os._exit, where nothing is dropped
    guard.delete()
    waitset.delete()
    sub.delete()
    listener.delete()
    del ev, ps, node  # the last references: dropping them closes the services and node


def ice_run(mode: str, frames: bool, n: int, hz: float,
            shape: tuple[int, ...] = FRAME_SHAPE) -> tuple[list[float], list[float]]:
    """One iceoryx2 run: this process publishes ``n`` messages at ``hz``."""
    name = f"retriever-bench/{os.getpid()}/{time.monotonic_ns()}"
    nbytes = int(np.prod(shape))
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    # fork before this run's iceoryx2 objects exist: the child makes its own
    p = ctx.Process(target=_ice_child, args=(name, mode, frames, n, shape, b))
    p.start()
    node = iox.NodeBuilder.new().create(iox.ServiceType.Ipc)
    ps, ev = _services(node, name, frames, nbytes)
    pub_builder = ps.publisher_builder()
    if frames:
        pub_builder = pub_builder.initial_max_slice_len(nbytes)
    pub = pub_builder.create()
    notifier = ev.notifier_builder().create() if mode != "poll" else None
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    a.send("go")
    a.recv()  # the subscriber exists
    pub.update_connections()
    time.sleep(0.1)
    t0 = time.perf_counter()
    for i in range(n):
        _pace(t0, i, hz)
        if frames:
            stamp = time.perf_counter()
            sample = pub.loan_slice_uninit(nbytes)
            loan = np.frombuffer(sample.payload().as_memory_view(), np.uint8).reshape(shape)
            np.copyto(loan, frame)
            del loan
            h = sample.user_header().contents
            h.stamp, h.n = stamp, i
            h.filled = time.perf_counter()
            sample.assume_init().send()
        else:
            sample = pub.loan_uninit()
            sample.write_payload(Small(stamp=time.perf_counter(), n=i)).send()
        if notifier is not None:
            notifier.notify()
    lat, filled = a.recv()
    p.join()
    if notifier is not None:
        notifier.delete()
    pub.delete()
    del ev, ps, node
    return lat, filled


# ---------------------------------------------------------------------- the runs

def _sent(line: str, pattern: str) -> int:
    """How many messages a retriever run's source published, from bench_mp's summary."""
    m = re.search(pattern, line)
    return int(m.group(1)) if m else -1


def variants(workload: str, tmp: Path, seconds: float, r: int) -> list[tuple[str, Run]]:
    """(label, run) for every variant of ``workload``. A run returns its latencies, the
    number of messages sent, and for iceoryx2 frames the latencies from the second stamp
    (after the fill), printed as the variant's "after fill" line."""
    if workload == "small":
        n = int(seconds * SMALL_HZ)

        def ours(busy: bool) -> Run:
            def run() -> tuple[list[float], int, None]:
                opts = {"busy_poll": True} if busy else {}
                lat, line = latency_run(tmp, seconds, f"small{r}{busy}", **opts)[:2]
                return lat, _sent(line, r"sent (\d+)"), None
            return run

        def ice(mode: str) -> Run:
            return lambda: (ice_run(mode, False, n, SMALL_HZ)[0], n, None)

        return [("pipe", lambda: (baseline_pipe(SMALL_HZ, n), n, None)),
                ("raw seqpacket", lambda: (baseline_seqpacket(SMALL_HZ, n), n, None)),
                ("ice waitset", ice("waitset")), ("ice listener", ice("listener")),
                ("ice poll", ice("poll")), ("ours", ours(False)), ("ours busy", ours(True))]

    n = int(seconds * FRAME_HZ)

    def fours(loan: str, busy: bool) -> Run:
        def run() -> tuple[list[float], int, None]:
            opts = {"busy_poll": True} if busy else {}
            lat, line = frames_run(tmp, seconds, FRAME_SHAPE, f"f{r}{loan}{busy}", loan,
                                    **opts)
            return lat, _sent(line, r"frames \d+/(\d+)"), None
        return run

    def fice(mode: str) -> Run:
        def run() -> tuple[list[float], int, list[float]]:
            lat, filled = ice_run(mode, True, n, FRAME_HZ)
            return lat, n, filled
        return run

    return [("pipe", lambda: (pipe_frames(FRAME_SHAPE, n, FRAME_HZ), n, None)),
            ("notify-only limit",
             lambda: (baseline_notify(FRAME_SHAPE, n, FRAME_HZ), n, None)),
            ("ice waitset", fice("waitset")), ("ice poll", fice("poll")),
            ("ours", fours("", False)), ("ours busy", fours("", True)),
            ("ours loan", fours("copyto", False))]


def _fmt(x: float, unit: str) -> str:
    return f"{x * 1e6:9.1f} µs" if unit == "us" else f"{x * 1e3:8.3f} ms"


def verdict(fig: dict[str, dict[str, float]], a: str, b: str, unit: str) -> str:
    """Does ``a`` beat ``b``: p50 and p99 ratios (a / b, < 1 is faster), CPU beside."""
    r50 = fig[a]["p50"] / fig[b]["p50"]
    r99 = fig[a]["p99"] / fig[b]["p99"]
    cpu = (f"CPU {fig[a]['cores']:.2f} vs {fig[b]['cores']:.2f} cores"
           if fig[a]["cores"] == fig[a]["cores"] else "CPU: see the run above")
    if r50 <= 0.9 and r99 <= 1.0:
        word = "WINS"
    elif r50 < 1.0:
        word = "ahead at p50 only, not clearly"
    else:
        word = "does not win"
    return (f"  {a} vs {b}: p50 x{r50:.2f}, p99 x{r99:.2f} ({_fmt(fig[a]['p50'], unit)} vs "
            f"{_fmt(fig[b]['p50'], unit)} p50), {cpu}: {word}")


TITLES = {"small": "64-byte message at 500 Hz", "frames": "1920x1080x3 uint8 frame at 30 Hz"}


def one_repeat(name: str, tmp: Path, seconds: float, r: int,
               runs: dict[str, list[Result]]) -> None:
    """Every variant of workload ``name`` once, back to back, adding to ``runs``."""
    unit = "us" if name == "small" else "ms"
    order = variants(name, tmp, seconds, r)
    if r % 2:  # alternate the order, so no variant always runs first or last
        order.reverse()
    for label, fn in order:
        res, second = measured(fn)
        for lab, x in ((label, res), (label + ", after fill", second)):
            if x is None:
                continue
            runs.setdefault(lab, []).append(x)
            print(f"  [{name} {r}] {lab:<26} p50 {_fmt(x.p(50), unit)}  "
                  f"p99 {_fmt(x.p(99), unit)}  received {len(x.lat)}/{x.sent} "
                  f"(lost {x.sent - len(x.lat)})  CPU {x.cores:.2f}", flush=True)


def report(name: str, runs: dict[str, list[Result]]) -> None:
    """Medians across repeats, and the verdicts."""
    unit = "us" if name == "small" else "ms"
    fig = {label: {"p50": statistics.median(x.p(50) for x in rs),
                   "p99": statistics.median(x.p(99) for x in rs),
                   "cores": statistics.median(x.cores for x in rs)}
           for label, rs in runs.items()}
    repeats = min(len(rs) for rs in runs.values())
    print(f"== {TITLES[name]}: one-way latency, sender clock to receiver clock, "
          f"medians of {repeats} repeats")
    print(f"  {'variant':<26} {'p50':>12} {'p99':>12} {'CPU cores':>10}")
    for label, f in fig.items():
        print(f"  {label:<26} {_fmt(f['p50'], unit):>12} {_fmt(f['p99'], unit):>12} "
              f"{f['cores']:10.2f}")
    print("  -- verdict (ratio < 1: iceoryx2 faster; WINS = p50 at least 10% lower and "
          "p99 not higher)")
    print(verdict(fig, "ice waitset", "pipe", unit))
    if "ice listener" in fig:
        print(verdict(fig, "ice listener", "pipe", unit))
    if "raw seqpacket" in fig:  # what retriever's channels already use, without the runtime
        print(verdict(fig, "ice waitset", "raw seqpacket", unit))
        print(verdict(fig, "ice listener", "raw seqpacket", unit))
    print(verdict(fig, "ice waitset", "ours", unit))
    print(verdict(fig, "ice poll", "ours busy", unit))
    print(verdict(fig, "ice poll", "pipe", unit))
    if "ours loan" in fig:  # the publish alone, the frame already in shared memory
        print(verdict(fig, "ice waitset, after fill", "ours loan", unit))
        print(verdict(fig, "ice waitset, after fill", "notify-only limit", unit))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=("small", "frames"), action="append")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--lock", default=None,
                    help="flock this file around each repeat (e.g. a shared lock)")
    args = ap.parse_args(argv)
    if iox is None:
        print("skipped: iceoryx2 not installed (pip install iceoryx2; it is evaluated here, "
              "not a dependency)")
        return 0
    iox.set_log_level(iox.LogLevel.Error)  # no "default config" notice on every node
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, iceoryx2 {version('iceoryx2')}, "
          f"numpy {np.__version__}, {os.cpu_count()} cpus, load average {load}")
    names = args.workload or ["small", "frames"]
    runs: dict[str, dict[str, list[Result]]] = {name: {} for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-ice-") as tmp:
        for r in range(args.repeats):
            with held(args.lock):  # one hold per repeat: every variant of every workload
                for name in names:
                    one_repeat(name, Path(tmp), args.seconds, r, runs[name])
    for name in names:
        report(name, runs[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
