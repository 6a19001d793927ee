"""Scale of the multiprocessing backend: N flows in partitions of 10 at 100 Hz.

    .venv/bin/python bench/bench_scale.py [--flows 10 50 100 200] [--seconds S]

Each partition holds one Rate(100) source and a chain of 9 Trigger relays. The chain
of partition k is fed by the source of partition k-1 (the last feeds the first), so
every message crosses one process boundary and then takes 8 hops inside a process.
Figures per size:
  start       run() until the last relay of every partition has stepped once
  CPU/step    CPU time of every worker process (user + system, from the kernel's
              accounting of finished children) divided by the flow steps they ran;
              flat from 10 to 200 flows means nothing grows with the graph.
  lost        source messages that no last relay saw.
Baseline beside each size, in the same run: forking as many bare processes as there
are partitions, each sending one datagram to the next (the floor of any start-up).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _mp_flows as B

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger

PART = 10
HZ = 100.0


class FirstRelay(B.StampRelay):
    """Relays and notes the time of its first step in a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.done = False

    def step(self, inp: B.Stamp) -> B.Stamp:
        if not self.done:
            self.done = True
            Path(self.path).write_text(repr(time.monotonic()))
        return inp


def build(n: int, tmp: Path) -> tuple[Pipeline, dict[str, str], list[Path]]:
    parts = n // PART
    policy: dict[str, str] = {}
    marks: list[Path] = []
    with Pipeline(f"bench-scale-{n}") as pipe:
        sources = []
        for k in range(parts):
            src = (B.StampSource() @ Rate(hz=HZ)).named(f"src{k}")
            policy[f"src{k}"] = f"p{k}"
            sources.append(src)
        for k in range(parts):
            prev = sources[(k - 1) % parts]
            for i in range(1, PART):
                name = f"r{k}_{i}"
                flow: Flow[B.Stamp, B.Stamp]
                if i == PART - 1:
                    mark = tmp / f"{name}.first"
                    marks.append(mark)
                    flow = FirstRelay(str(mark))
                else:
                    flow = B.StampRelay()
                node = (flow @ Trigger("n", "stamp")).named(name)
                policy[name] = f"p{k}"
                pipe.connect(prev, node, sync=Latest())
                prev = node
    return pipe, policy, marks


def _bare_child(rx: socket.socket, tx: socket.socket) -> None:
    tx.send(rx.recv(16))
    os._exit(0)


def bare_start(parts: int) -> float:
    """Fork ``parts`` processes chained by sockets and pass one datagram through."""
    t = time.monotonic()
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
             for _ in range(parts + 1)]
    pids = []
    for i in range(parts):
        pid = os.fork()
        if pid == 0:
            _bare_child(pairs[i][1], pairs[i + 1][0])
        pids.append(pid)
    pairs[0][0].send(b"go")
    pairs[parts][1].recv(16)
    dt = time.monotonic() - t
    for pid in pids:
        os.waitpid(pid, 0)
    for a, b in pairs:
        a.close()
        b.close()
    return dt


def measure(n: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        pipe, policy, marks = build(n, Path(tmp))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        handle = pipe.run(backend="multiprocessing", blocking=False, policy=policy)
        while not all(m.exists() for m in marks):
            time.sleep(0.002)
            if time.monotonic() - t > 30:
                break
        start = max(float(m.read_text() or "inf") for m in marks) - t
        remaining = seconds - (time.monotonic() - t)
        if remaining > 0:
            time.sleep(remaining)
        rep = handle.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = sum(f.steps for f in rep.flows.values())
    sent = sum(rep.flows[f"src{k}"].steps for k in range(n // PART))
    seen = sum(rep.flows[f"r{k}_{PART - 1}"].steps for k in range(n // PART))
    base = bare_start(n // PART)
    return (f"{n:4d} flows {n // PART:3d} procs  start {start * 1e3:7.1f} ms "
            f"(bare fork+chain {base * 1e3:6.1f} ms)  CPU/step {cpu / max(1, steps) * 1e6:6.1f} µs"
            f"  steps {steps}  lost {max(0, sent - seen)} of {sent}  "
            f"CPU {cpu / rep.duration * 100:5.1f}% of a core")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, nargs="+", default=[10, 50, 100, 200])
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {load}")
    print(f"== {PART} flows per partition, Rate({HZ:g}) source + 9 Trigger relays each")
    for n in args.flows:
        print("  " + measure(n, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
