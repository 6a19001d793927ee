"""Where a small message's time goes on the multiprocessing backend, stage by stage,
beside the bare system calls it cannot avoid, measured in the same run.

    .venv/bin/python bench/bench_msgpath.py [--messages N]

The two workers of a 500 Hz Rate source -> Trigger sink pipeline are built in this one
process (the same ``Worker`` objects a run forks) and driven by hand, so each stage can
be timed: the producer's scheduler pass (step, publish, encode, send) and, on the
consumer, ``receive`` (the datagram), ``open`` (decode), ``arrival`` (into the port
buffers) and ``triggered`` (sample, build the input, step). "warm" runs back to back;
"cold" first streams 16 MB through the caches, as a worker that slept between two
messages finds them. Baselines: the same system calls with no runtime around them.
The wake-up itself (kernel scheduling of a sleeping process) is not in these figures:
``bench_mp.py --section latency`` measures it end to end (raw seqpacket+epoll line).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import termios
import time
from array import array
from collections.abc import Callable
from fcntl import ioctl
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _mp_flows as B

from retriever.flow import EdgeConfig, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.worker import Worker


def build(tmp: Path) -> tuple[Worker, Worker, Any]:
    with Pipeline("bench-msgpath") as pipe:
        src = (B.StampSource() @ Rate(hz=500)).named("src")
        sink = (B.StampSink(str(tmp / "sink.json")) @ Trigger("n", "stamp")).named("sink")
        pipe.connect(src, sink, sync=Latest(), edge_config=EdgeConfig(qsize=16))
    return B.workers_in_one_process(pipe, "src", "sink")


def stages(n: int, cold: bool) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        prod, cons, plan = build(Path(tmp))
        t0 = time.monotonic() - 1
        prod.t0 = cons.t0 = t0
        inc, _ = cons.ins[0]
        ch = plan.channels[0]
        routes = [(cons.runtimes[d], pairs) for d, pairs in ch.routes["src"]]
        sched = cons.sched
        junk = np.ones(16 << 20, np.uint8)
        out: dict[str, list[float]] = {k: [] for k in
                                       ("producer", "receive", "open", "arrival", "triggered")}
        clock = time.perf_counter
        for _ in range(n):
            if cold:
                junk += 1
            a = clock()
            prod.sched.tick(time.monotonic() - t0, lockstep=True)
            b = clock()
            if cold:
                junk += 1
            c = clock()
            batch = inc.receive()
            d = clock()
            got = inc.open(batch[0])
            e = clock()
            assert got is not None
            sched.on_arrival(routes, got[1], got[2])
            f = clock()
            sched.run_triggered(time.monotonic() - t0)
            g = clock()
            for key, v in zip(out, (b - a, d - c, e - d, f - e, g - f), strict=True):
                out[key].append(v)
        prod.finalize()
        cons.finalize()
    return out


def syscalls(n: int, cold: bool) -> dict[str, list[float]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    junk = np.ones(16 << 20, np.uint8)
    space = socket.CMSG_SPACE(4)
    inq = array("i", [0])
    msg = b"x" * 48
    calls: dict[str, Callable[[], Any]] = {
        "send": lambda: a.send(msg),
        "recvmsg": lambda: b.recvmsg(32 * 1024 + 256, space),
        "ioctl(FIONREAD)": lambda: ioctl(b.fileno(), termios.FIONREAD, inq, True),
    }
    out: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(n):
        for key, fn in calls.items():
            if cold:
                junk += 1
            t = time.perf_counter()
            fn()
            out[key].append(time.perf_counter() - t)
    a.close()
    b.close()
    return out


def show(title: str, figures: dict[str, list[float]]) -> None:
    cells = [f"{k} {np.median(v) * 1e6:6.2f}" for k, v in figures.items()]
    print(f"  {title:<22}" + "  ".join(cells) + "   (µs, median)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=3000)
    args = ap.parse_args(argv)
    print("== per-message work of a small message (Rate source -> Trigger sink)")
    for cold in (False, True):
        tag = "cold" if cold else "warm"
        st = stages(args.messages, cold)
        total = sum(float(np.median(v)) for v in st.values())
        show(f"retriever, {tag}", st)
        show(f"bare syscalls, {tag}", syscalls(args.messages, cold))
        print(f"  {'':<22}retriever stages together: {total * 1e6:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
