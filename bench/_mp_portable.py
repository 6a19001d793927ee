"""``bench_mp.py --section portable``: the multiprocessing figures in the native mode,
with spawned workers, in portable mode (what macOS gets) and over the loopback transport
(what Windows gets), interleaved in one run."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _mp_flows import StampRelay, StampSink, StampSource, Ticks, pct, read, run_pipe
from _mp_runs import frames_run, latency_run, period_stats

from retriever.contract.wire import MessageCodec
from retriever.flow import Latest, Pipeline, Rate, Tick, Trigger
from retriever.rt.transport import channel_pair, open_in, open_out
from retriever.rt.transport.rendezvous import TRANSPORT_ENV

MODES: dict[str, dict[str, Any]] = {
    "native": {"portable": False},
    "spawn": {"portable": False, "start_method": "spawn"},  # native services, spawned
    "portable": {"portable": True},
    "loopback": {"portable": True},  # and RETRIEVER_MP_TRANSPORT=loopback (Windows' way)
}
LOOPBACK_MODES = ("loopback",)


@contextlib.contextmanager
def _transport(mode: str) -> Iterator[None]:
    """Set ``RETRIEVER_MP_TRANSPORT`` for the loopback column (runs read it at start)."""
    if mode not in LOOPBACK_MODES:
        yield
        return
    os.environ[TRANSPORT_ENV] = "loopback"
    try:
        yield
    finally:
        del os.environ[TRANSPORT_ENV]


def _channel_roundtrip(framed: bool, n: int = 20_000) -> float:
    """Seconds per small message through one channel, producer and consumer in this
    process (send, receive, decode): the message path's own cost, without any wake-up."""
    a, b = channel_pair(framed=framed)
    out = open_out(a, block=False, capacity=64)
    inc = open_in(b, {0: MessageCodec()}, block=False, capacity=64)
    out.poll()
    msg = {"n": 1, "stamp": 0.5}
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            out.send(0, float(i), msg)
            for data in inc.receive():
                inc.open(data)
        best = min(best, (time.perf_counter() - t) / n)
    out.close()
    inc.close()
    a.close()
    b.close()
    return best


def _rate_p99(tmp: Path, seconds: float, name: str, **options: Any) -> float:
    out = tmp / f"{name}.json"
    pipe = Pipeline("bench-portable-rate")
    pipe.add((Ticks(str(out)) @ Tick(hz=200.0)).named("tick"))
    run_pipe(pipe, seconds, **options)
    return period_stats(read(out)["lat"], 200.0)[1]


def _startup(tmp: Path, name: str, **options: Any) -> float:
    """run() to the first message at the sink of a 3-flow chain."""
    out = tmp / f"{name}.json"
    with Pipeline("bench-portable-startup") as pipe:
        src = (StampSource() @ Rate(hz=100)).named("src")
        relay = (StampRelay() @ Trigger("n", "stamp")).named("relay")
        sink = (StampSink(str(out)) @ Trigger("n", "stamp")).named("sink")
        pipe.connect(src, relay, sync=Latest())
        pipe.connect(relay, sink, sync=Latest())
    t = time.monotonic()
    handle = pipe.run(backend="multiprocessing", blocking=False, **options)
    first = Path(str(out) + ".first")
    while True:
        try:
            dt = float(first.read_text()) - t
            break
        except (FileNotFoundError, ValueError):  # not yet, or partially written
            time.sleep(0.0005)
    handle.stop()
    return dt


def section_portable(tmp: Path, seconds: float, repeats: int) -> None:
    """The same figures in the native mode (fork, SOCK_SEQPACKET, memfd, epoll), with
    the native services but spawned workers, and in portable mode (a fork server,
    stream-framed channels, POSIX shm by name, selectors), interleaved in one run; the
    ratio says how much slower portable mode is than native (> 1: slower). The loopback
    column spawns each worker (no descriptor passing there)."""
    print("== native (fork, SOCK_SEQPACKET, memfd, epoll) vs spawn (native services, "
          "spawned workers) vs portable (fork server, stream-framed sockets, POSIX shm by "
          "name, poll selector) vs loopback (portable over TCP loopback connections made after "
          "start: Windows' transport)")
    for framed in (False, True):
        per = _channel_roundtrip(framed) * 1e6
        kind = "stream frames   " if framed else "SOCK_SEQPACKET  "
        print(f"  channel message path, one process, {kind} {per:6.2f} µs/message")
    figs: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}

    def add(mode: str, key: str, value: float) -> None:
        figs[mode].setdefault(key, []).append(value)

    for r in range(repeats):
        for mode, opts in MODES.items():
            with _transport(mode):
                _portable_figures(tmp, seconds, r, mode, opts, add)
    print(f"  {'figure (median of ' + str(repeats) + ' runs)':<36} {'native':>10} "
          f"{'spawn':>10} {'portable':>10} {'loopback':>10} {'por/nat':>7} {'loop/nat':>8}")
    for key in figs["native"]:
        nat = statistics.median(figs["native"][key])
        spa = statistics.median(figs["spawn"][key])
        por = statistics.median(figs["portable"][key])
        loo = statistics.median(figs["loopback"][key])
        print(f"  {key:<36} {nat:10.1f} {spa:10.1f} {por:10.1f} {loo:10.1f} "
              f"{por / nat:7.2f} {loo / nat:8.2f}")


def _portable_figures(tmp: Path, seconds: float, r: int, mode: str, opts: dict[str, Any],
                      add: Callable[[str, str, float], None]) -> None:
    """One repeat of every figure in ``mode``."""
    lat = latency_run(tmp, seconds, f"pl_{mode}{r}", **opts)[0]
    add(mode, "small msg 500 Hz p50 [µs]", pct(lat, 50) * 1e6)
    add(mode, "small msg 500 Hz p99 [µs]", pct(lat, 99) * 1e6)
    flat, _ = frames_run(tmp, seconds, (480, 640, 3), f"pf_{mode}{r}", **opts)
    add(mode, "640x480x3 frame 30 Hz p50 [µs]", pct(flat, 50) * 1e6)
    add(mode, "640x480x3 frame 30 Hz p99 [µs]", pct(flat, 99) * 1e6)
    add(mode, "Rate(200) period error p99 [µs]",
        _rate_p99(tmp, seconds, f"pr_{mode}{r}", **opts) * 1e6)
    add(mode, "start-up, 3-flow chain [ms]", _startup(tmp, f"ps_{mode}{r}", **opts) * 1e3)
