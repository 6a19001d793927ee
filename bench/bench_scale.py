"""Scale of the multiprocessing backend: N flows in partitions of 10 at 100 Hz.

    flock /tmp/retriever-heavy.lock .venv/bin/python bench/bench_scale.py --seconds 4
        [--flows 10 20 50 100 200] [--rounds 3] [--spin S] [--spin-arrivals S] [-v]

Each partition holds one Rate(100) source and a chain of 9 Trigger relays. The chain
of partition k is fed by the source of partition k-1 (the last feeds the first), so
with two partitions or more every message crosses one process boundary and then takes
8 hops inside a process; a single partition feeds its own chain (nothing crosses).
Sizes are run in interleaved rounds (10, 50, ..., 10, 50, ...); medians are printed.
Figures per size:
  spin        whether the workers busy-wait (the run's default for that many workers
              on this machine's cores, or --spin/--spin-arrivals when given). At
              100 Hz that is the spin before each source tick only: streams slower
              than about 167 Hz never get arrival windows (MAX_PERIOD in
              retriever/rt/backends/multiprocessing/arrivals.py)
  start       run() until the last relay of every partition has stepped once, beside
              forking as many bare processes chained by one datagram (the floor)
  CPU/msg     CPU time of every thread of every worker (the scheduler's nanosecond
              accounting) from --warm seconds after start-up to the stop request,
              divided by the flow steps they ran meanwhile: start-up and shutdown do
              not count. "vs 10" is the ratio to the smallest size; the goal is that
              no size costs more than 1.3x per message (flat).
  wakes/msg   context switches of the workers per flow step (wake-ups)
  parent      the parent's CPU per flow step in the same window (supervision, stats)
  life        worker CPU per step over their whole life (start-up and stop included,
              from the kernel's accounting of reaped children)
  p50/p99     source to the last relay of the next partition's chain, after warm-up
  skipped     ticks the sources' lag policy skipped; lost: source messages no last
              relay saw.
Set RETRIEVER_MP_PORTABLE=1 to measure portable mode (workers forked by a fork server).

    flock /tmp/retriever-heavy.lock .venv/bin/python bench/bench_scale.py --startup
        [--flows 200] [--rounds 5]

compares start-up only, per size, interleaved round by round: the native mode (fork),
portable mode with its default start method (forkserver: one spawned interpreter that
imports and parses once, then forks every worker), portable mode with
start_method="spawn" (one fresh interpreter per worker), beside forking as many bare
processes (the floor). start is as above; "children CPU" is the CPU of every process
the run started (server and workers, start-up to exit) from the kernel's accounting.
The goal: portable mode starts 200 flows in under 2 s on two cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import _mp_flows as B

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.plan import busy_wait_defaults, usable_cores

PART = 10
HZ = 100.0
FLAT_GOAL = 1.3  # CPU per message of any size over that of the smallest
START_GOAL = 2.0  # seconds
_TICK = os.sysconf("SC_CLK_TCK")


class LastRelay(B.StampRelay):
    """The last relay of a chain: notes the time of its first step in a file (written
    whole, then renamed, so the bench never reads it half written) and the delay of
    every message since its source stepped, written as JSON when finalized."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.done = False
        self.lat: list[float] = []

    def step(self, inp: B.Stamp) -> B.Stamp:
        self.lat.append(time.perf_counter() - inp.stamp)
        if not self.done:
            self.done = True
            part = Path(self.path + ".part")
            part.write_text(repr(time.monotonic()))
            part.replace(self.path)
        return inp

    def finalize(self) -> None:
        Path(self.path + ".lat").write_text(json.dumps(self.lat))


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
                    flow = LastRelay(str(mark))
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


def _task_cpu(pid: int) -> tuple[float, int]:
    """CPU seconds on a core and context switches of every thread of ``pid`` so far,
    from the scheduler's nanosecond accounting (``/proc/PID/task/*/schedstat``), or
    from the clock-tick counts of ``stat`` where a kernel has no schedstat."""
    cpu, switches = 0.0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            try:
                run_ns, _wait_ns, slices = (int(x) for x in
                                            (task / "schedstat").read_text().split())
                cpu += run_ns * 1e-9
                switches += slices
            except FileNotFoundError:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
    return cpu, switches


def _snapshot(handle: Any) -> tuple[float, float, int, int]:
    """(time, CPU of every worker, their context switches, steps so far)."""
    cpu, switches = 0.0, 0
    for pid in handle.pids.values():
        c, s = _task_cpu(pid)
        cpu += c
        switches += s
    steps = sum(int(row["steps"]) for row in handle.stats().values())
    return time.monotonic(), cpu, switches, steps


@dataclass
class Sample:
    """One run of one size."""

    flows: int
    start: float  # seconds from run() to every partition's last relay stepping once
    bare: float  # seconds to fork the processes bare and chain one datagram through them
    cpu_msg: float  # worker CPU seconds per flow step, steady state
    parent_msg: float  # the parent's CPU seconds per flow step, steady state
    wakes_msg: float  # worker context switches per flow step, steady state
    life_msg: float  # worker CPU per step over their whole life (start and stop included)
    lost: int
    sent: int
    load: float  # worker CPU in the window, in cores
    lat: list[float]  # source to last relay, seconds, after the warm-up
    skipped: int  # ticks the sources' lag policy skipped


def measure(n: int, seconds: float, warm: float, options: dict[str, Any]) -> Sample:
    """Run ``n`` flows for ``seconds``; CPU is measured from ``warm`` seconds after
    start-up until the stop request, so start-up and shutdown do not count."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        pipe, policy, marks = build(n, Path(tmp))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        handle: Any = pipe.run(backend="multiprocessing", blocking=False, policy=policy,
                               **options)
        while not all(m.exists() for m in marks):
            time.sleep(0.002)
            if time.monotonic() - t > 30:
                break
        start = max(float(m.read_text()) if m.exists() else math.inf for m in marks) - t
        time.sleep(warm)
        t0, cpu0, sw0, steps0 = _snapshot(handle)
        p0 = time.process_time()
        time.sleep(max(0.5, seconds - warm - start))
        t1, cpu1, sw1, steps1 = _snapshot(handle)
        p1 = time.process_time()
        rep = handle.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        lat: list[float] = []
        for m in marks:
            lat += json.loads(Path(str(m) + ".lat").read_text())[int(warm * HZ):]
    life = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = max(1, steps1 - steps0)
    total = sum(f.steps for f in rep.flows.values())
    sent = sum(rep.flows[f"src{k}"].steps for k in range(n // PART))
    seen = sum(rep.flows[f"r{k}_{PART - 1}"].steps for k in range(n // PART))
    return Sample(n, start, bare_start(n // PART), (cpu1 - cpu0) / steps, (p1 - p0) / steps,
                  (sw1 - sw0) / steps, life / max(1, total), max(0, sent - seen), sent,
                  (cpu1 - cpu0) / (t1 - t0), lat,
                  sum(f.skipped_ticks for f in rep.flows.values()))


STARTUP_MODES = {
    "native (fork)": {"portable": False},
    "portable (forkserver)": {"portable": True},
    "portable, spawn": {"portable": True, "start_method": "spawn"},
}


def measure_start(n: int, options: dict[str, Any]) -> tuple[float, float]:
    """Seconds from run() until every partition's last relay stepped, and the CPU
    seconds of every process the run started (start-up to exit)."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        pipe, policy, marks = build(n, Path(tmp))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        handle: Any = pipe.run(backend="multiprocessing", blocking=False, policy=policy,
                               **options)
        while not all(m.exists() for m in marks) and time.monotonic() - t < 60:
            time.sleep(0.002)
        start = max(float(m.read_text()) if m.exists() else math.inf for m in marks) - t
        handle.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return start, cpu


def startup(sizes: list[int], rounds: int) -> int:
    """The start-up comparison of ``--startup``."""
    print(f"== start-up, {rounds} interleaved rounds per size (modes in turn), medians")
    got: dict[tuple[int, str], list[tuple[float, float]]] = {}
    bare: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(rounds):
        for n in sizes:
            for mode, opts in STARTUP_MODES.items():
                got.setdefault((n, mode), []).append(measure_start(n, opts))
            bare[n].append(bare_start(n // PART))
    print(f"  {'flows':>5} {'procs':>5}  {'mode':<22} {'start ms':>8} {'max ms':>8} "
          f"{'children CPU s':>14}")
    worst = 0.0
    for n in sizes:
        for mode in STARTUP_MODES:
            xs = got[(n, mode)]
            if mode == "portable (forkserver)":
                worst = max(worst, max(x[0] for x in xs))
            print(f"  {n:5d} {n // PART:5d}  {mode:<22} "
                  f"{_median([x[0] for x in xs]) * 1e3:8.1f} "
                  f"{max(x[0] for x in xs) * 1e3:8.1f} {_median([x[1] for x in xs]):14.2f}")
        print(f"  {n:5d} {n // PART:5d}  {'bare fork (floor)':<22} "
              f"{_median(bare[n]) * 1e3:8.1f}")
    print(f"  slowest portable (forkserver) start of any run: {worst * 1e3:.0f} ms (goal: "
          f"under {START_GOAL:g} s) -> {'met' if worst < START_GOAL else 'NOT met'}")
    return 0


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, nargs="+", default=[10, 20, 50, 100, 200])
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each run")
    ap.add_argument("--warm", type=float, default=0.5,
                    help="seconds after start-up before CPU is measured")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs per size, interleaved across sizes; medians are printed")
    ap.add_argument("--spin", type=float, default=None, help="run option spin (seconds)")
    ap.add_argument("--spin-arrivals", type=float, default=None,
                    help="run option spin_arrivals (seconds)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    ap.add_argument("--startup", action="store_true",
                    help="compare start-up only: native, portable (forkserver), spawn")
    args = ap.parse_args(argv)
    if args.startup:
        logging.getLogger("retriever").setLevel(logging.ERROR)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        flows = args.flows if "--flows" in (argv or sys.argv) else [200]
        return startup(flows, args.rounds)
    options: dict[str, Any] = {}
    if args.spin is not None:
        options["spin"] = args.spin
    if args.spin_arrivals is not None:
        options["spin_arrivals"] = args.spin_arrivals
    logging.getLogger("retriever").setLevel(logging.ERROR)  # lag warnings of loaded runs
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {load}")
    print(f"== {PART} flows per partition, Rate({HZ:g}) source + {PART - 1} Trigger relays "
          f"each; {args.rounds} interleaved runs of {args.seconds:g} s per size, medians"
          + (f"; options {options}" if options else ""))
    runs: dict[int, list[Sample]] = {n: [] for n in args.flows}
    for r in range(args.rounds):
        for n in args.flows:
            s = measure(n, args.seconds, args.warm, options)
            runs[n].append(s)
            if args.verbose:
                print(f"   round {r + 1}: {n:4d} flows  start {s.start * 1e3:6.1f} ms  "
                      f"CPU/msg {s.cpu_msg * 1e6:5.1f} µs  wake-ups/msg {s.wakes_msg:4.2f}  "
                      f"{s.load * 100:5.1f}% of a core")
    smallest = min(args.flows)
    ref = _median([s.cpu_msg for s in runs[smallest]])
    print(f"  {'flows':>5} {'procs':>5} {'spin':>4} {'start ms':>8} {'bare ms':>7} "
          f"{'CPU/msg µs':>10} {'vs ' + str(smallest):>6} {'wakes/msg':>9} "
          f"{'parent µs':>9} {'life µs':>7} {'p50 ms':>6} {'p99 ms':>6} {'skipped':>7} "
          f"{'lost':>11}")
    ratios: list[float] = []
    worst_start = 0.0
    cores = usable_cores()
    for n in args.flows:
        xs = runs[n]
        cpu = _median([s.cpu_msg for s in xs])
        ratios.append(cpu / ref if ref else math.inf)
        worst_start = max(worst_start, max(s.start for s in xs))
        spin = options.get("spin", busy_wait_defaults(n // PART, cores)[0])
        spin_arr = options.get("spin_arrivals", busy_wait_defaults(n // PART, cores)[1])
        lat = sorted(x for s in xs for x in s.lat) or [math.nan]
        print(f"  {n:5d} {n // PART:5d} {'on' if spin or spin_arr else 'off':>4} "
              f"{_median([s.start for s in xs]) * 1e3:8.1f} "
              f"{_median([s.bare for s in xs]) * 1e3:7.1f} {cpu * 1e6:10.1f} "
              f"{ratios[-1]:5.2f}x {_median([s.wakes_msg for s in xs]):9.2f} "
              f"{_median([s.parent_msg for s in xs]) * 1e6:9.2f} "
              f"{_median([s.life_msg for s in xs]) * 1e6:7.1f} "
              f"{lat[len(lat) // 2] * 1e3:6.2f} {lat[int(len(lat) * 0.99)] * 1e3:6.2f} "
              f"{sum(s.skipped for s in xs):7d} "
              f"{sum(s.lost for s in xs):5d}/{sum(s.sent for s in xs)}")
    worst = max(ratios)
    verdict = "met" if worst <= FLAT_GOAL else "NOT met"
    print(f"  CPU per message, dearest size / {smallest} flows: {worst:.2f}x (goal: flat, "
          f"no size above {FLAT_GOAL:g}x) -> {verdict}; cheapest / dearest size "
          f"{min(ratios) / worst:.2f}x")
    print(f"  slowest start of any run: {worst_start * 1e3:.0f} ms (goal: under "
          f"{START_GOAL:g} s) -> {'met' if worst_start < START_GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
