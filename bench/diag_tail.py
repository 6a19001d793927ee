"""Why is a small message late?  A diagnostic, not a benchmark: it instruments (by
patching, in this process only, before the workers are forked) the two workers of the
500 Hz small-message pipeline of ``bench_mp.py --section latency`` and explains each
message's latency.

    .venv/bin/python bench/diag_tail.py [--runs N] [--seconds S] [--threshold US]
                                         [--spin-arrivals S] [--realtime]

Recorded in each worker (appended to lists, written when the run ends): every wait
(kind, timeout, entry and exit time, descriptors ready), every arrival-window
prediction, every channel receive, every send, every garbage collection, and the
time the thread spent runnable but not running (``run_delay`` of
``/proc/thread-self/schedstat``, read around each sleeping wait and at each step).
For each message the script then knows: how late the sender's tick was, how long its
send took, what the consumer was doing when the datagram landed (polling in a window,
dozing, asleep in epoll or select, busy), how long the wake-up took, how much of it the
consumer spent on a run queue, whether a collection ran, and what was left (the
consumer's own work from wake-up to the step). Messages over the threshold are listed
with their causes, and counted per cause.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select as select_mod
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from retriever.flow import EdgeConfig, Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.rt.backends.multiprocessing import arrivals as arrivals_mod
from retriever.rt.backends.multiprocessing import worker as worker_mod
from retriever.rt.transport import inchannel as inchannel_mod

PERIOD = 0.002
mono = time.monotonic

# ---------------------------------------------------------------- per-process log
LOG: dict[str, Any] = {"waits": [], "gc": [], "recv": [], "send": [], "pred": [],
                       "steps": [], "rd": [], "stats": [], "t0": 0.0}
_SCHED_FD = -1


def _run_delay() -> int:
    """Nanoseconds this thread has spent runnable but waiting for a CPU."""
    global _SCHED_FD
    if _SCHED_FD < 0:
        _SCHED_FD = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    return int(os.pread(_SCHED_FD, 100, 0).split()[1])


def _dump(path: str) -> None:
    Path(path).write_text(json.dumps(LOG))


@io
class Stamp:
    n: int
    stamp: float


class DiagSource(Flow[None, Stamp]):
    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Stamp:
        self.n += 1
        return Stamp(n=self.n, stamp=mono())

    def finalize(self) -> None:
        _dump(self.path)


class DiagSink(Flow[Stamp, None]):
    def __init__(self, path: str) -> None:
        self.path = path

    def step(self, inp: Stamp) -> None:
        now = mono()
        LOG["steps"].append((inp.n, inp.stamp, now, _run_delay()))

    def finalize(self) -> None:
        _dump(self.path)


# ---------------------------------------------------------------- patches
def _patch() -> None:
    waits = LOG["waits"]
    orig_make = worker_mod.make_waiter

    def make_waiter(kind: str) -> Any:
        w = orig_make(kind)
        poll = w.poll

        def logged_poll(timeout: float) -> Any:
            rd = _run_delay() if timeout > 0 else -1
            t = mono()
            r = poll(timeout)
            t2 = mono()
            waits.append(("e", timeout, t, t2, len(r), rd, _run_delay() if timeout > 0 else -1))
            return r
        w.poll = logged_poll
        return w
    worker_mod.make_waiter = make_waiter

    sel = select_mod.select

    class _Sel:
        @staticmethod
        def select(r: Any, w: Any, x: Any, timeout: float | None = None) -> Any:
            to = timeout if timeout is not None else 1e9
            rd = _run_delay() if to > 0 else -1
            t = mono()
            out = sel(r, w, x, timeout)
            t2 = mono()
            waits.append(("s", to, t, t2, len(out[0]), rd, _run_delay() if to > 0 else -1))
            return out
    worker_mod.select = _Sel  # type: ignore[assignment]

    orig_loop = worker_mod.Worker.loop

    def loop(self: Any, t0: float) -> None:
        LOG["t0"] = t0
        gcl = LOG["gc"]

        def cb(phase: str, info: dict[str, Any]) -> None:
            gcl.append((phase, info["generation"], mono()))
        gc.callbacks.append(cb)
        orig_loop(self, t0)
    worker_mod.Worker.loop = loop  # type: ignore[method-assign]

    orig_recv = inchannel_mod.InChannel.receive

    def receive(self: Any) -> list[bytes]:
        t = mono()
        out = orig_recv(self)
        LOG["recv"].append((t, mono(), len(out)))
        return out
    inchannel_mod.InChannel.receive = receive  # type: ignore[method-assign]

    orig_send = worker_mod.Worker._send

    def send(self: Any, name: str, now: float, msg: Any) -> None:
        t = mono()
        orig_send(self, name, now, msg)
        LOG["send"].append((msg["n"], t, mono()))
    worker_mod.Worker._send = send  # type: ignore[method-assign]

    orig_stats_send = worker_mod.ControlLink.send

    def ctl_send(self: Any, *items: Any) -> bool:
        t = mono()
        ok = orig_stats_send(self, *items)
        if items and items[0] == "stats":
            LOG["stats"].append((t, mono()))
        return ok
    worker_mod.ControlLink.send = ctl_send  # type: ignore[method-assign]

    orig_arrived = arrivals_mod.ArrivalPredictor.arrived

    def arrived(self: Any, sent: float, now: float, large: bool = False) -> None:
        orig_arrived(self, sent, now, large)
        LOG["pred"].append((mono(), self.wake, self.start, self.end, self.late.estimate))
    arrivals_mod.ArrivalPredictor.arrived = arrived  # type: ignore[method-assign]


# ---------------------------------------------------------------- analysis
def _overlap_gc(gcs: list[tuple[str, int, float]], a: float, b: float) -> float:
    """Seconds of collections inside [a, b]."""
    total, start = 0.0, None
    for phase, _gen, t in gcs:
        if phase == "start":
            start = t
        elif start is not None:
            lo, hi = max(a, start), min(b, t)
            if hi > lo:
                total += hi - lo
            start = None
    return total


def analyse(prod: dict[str, Any], cons: dict[str, Any], threshold: float
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    t0p, t0c = prod["t0"], cons["t0"]
    sends = {n: (a, b) for n, a, b in prod["send"]}
    waits = sorted(cons["waits"], key=lambda w: w[2])
    w_start = np.array([w[2] for w in waits])
    preds = cons["pred"]  # (time logged, wake, start, end, late estimate) run-relative
    p_at = np.array([p[0] for p in preds])
    ready_exits = np.array([w[3] for w in waits if w[4] > 0])
    recvs = sorted(cons["recv"])
    r_at = np.array([r[0] for r in recvs])
    rows = []
    for n, stamp, step_t, rd_step in cons["steps"]:
        if n not in sends:
            continue
        s_in, s_out = sends[n]
        lat = step_t - stamp
        rel_stamp = stamp - t0p
        grid = round(rel_stamp / PERIOD) * PERIOD
        sender_late = rel_stamp - grid
        arrive = s_out  # the datagram is in the socket when send returned
        # the consumer's state when it landed
        i = int(np.searchsorted(w_start, arrive, side="right")) - 1
        state = "busy"
        wait = None
        if i >= 0 and waits[i][3] >= arrive:
            wait = waits[i]
            kind, to = wait[0], wait[1]
            if to == 0:
                state = "polling"
            elif kind == "s" and to <= 0.00011:
                state = "dozing"
            else:
                state = "asleep-" + ("select" if kind == "s" else "epoll")
        # prediction in force: the last logged before the arrival
        j = int(np.searchsorted(p_at, arrive, side="right")) - 1
        window = "none"
        wake = start = end = lateest = float("nan")
        if j >= 0:
            _, wake, start, end, lateest = preds[j]
            a_rel = arrive - t0c
            if wake == float("inf"):
                window = "none"
            elif a_rel < wake:
                window = "before-wake"
            elif a_rel < start:
                window = "wake..start"
            elif a_rel <= end:
                window = "in-window"
            else:
                window = "after-end"
        # the consumer's wake-up: first ready exit at or after the arrival
        k = int(np.searchsorted(ready_exits, arrive, side="left"))
        woke = float(ready_exits[k]) if k < len(ready_exits) else step_t
        if woke > step_t:
            woke = arrive  # read while busy (no separate wait)
        m = int(np.searchsorted(r_at, arrive, side="left"))
        recv_t = recvs[m][0] if m < len(recvs) else step_t
        # run-queue time of the consumer from before the arrival to the step
        rd0 = None
        if wait is not None and wait[5] >= 0:
            rd0 = wait[5]
        else:  # the previous sample of run_delay (a sleeping wait's exit or a step)
            prev = [w[6] for w in waits[: max(i, 0) + 1] if w[6] >= 0]
            rd0 = prev[-1] if prev else rd_step
        rq = (rd_step - rd0) / 1e9
        gc_c = _overlap_gc(cons["gc"], arrive - 0.0005, step_t)
        gc_p = _overlap_gc(prod["gc"], t0p + grid, s_out)
        st_c = sum(max(0.0, min(b, step_t) - max(a, arrive - 0.0002)) for a, b in cons["stats"])
        st_p = sum(max(0.0, min(b, s_out) - max(a, t0p + grid)) for a, b in prod["stats"])
        nap = ""
        if wait is not None and start < float("inf"):
            nap = (f"wait@{(wait[2] - t0c - start) * 1e6:+.0f} to {wait[1] * 1e6:.0f} "
                   f"took {(wait[3] - wait[2]) * 1e6:.0f} ready {wait[4]}")
        rows.append({"nap": nap,
            "n": n, "lat": lat, "sender_late": sender_late, "send": s_out - stamp,
            "to_send": s_in - stamp, "state": state, "window": window,
            "wake_lat": max(0.0, woke - arrive), "to_recv": recv_t - arrive,
            "handle": step_t - max(woke, arrive), "runq": rq, "gc_cons": gc_c,
            "gc_prod": gc_p, "stats": st_c + st_p, "late_est": lateest,
            "after_start": (arrive - t0c) - start if start < float("inf") else float("nan"),
            "early_by": (start - (arrive - t0c)) if window in ("before-wake", "wake..start")
            else float("nan"),
            "late_by": ((arrive - t0c) - end) if window == "after-end" else float("nan"),
        })
    lats = [r["lat"] for r in rows]
    summary = {"n": len(rows), "p50": float(np.percentile(lats, 50)),
               "p99": float(np.percentile(lats, 99))}
    slow = [r for r in rows if r["lat"] > threshold]
    return rows, {**summary, "slow": slow}


def cause(r: dict[str, Any]) -> str:
    """The main reason a message was late (the biggest contributor)."""
    parts = {
        "sender tick late": max(0.0, r["sender_late"] - 30e-6),
        "slow send": max(0.0, r["send"] - 30e-6),
        "gc": r["gc_cons"] + r["gc_prod"],
        "stats sent to the parent": r["stats"],
        "consumer on run queue": r["runq"],
        f"woke via {r['state']} ({r['window']})": r["wake_lat"] if r["state"] != "polling"
        else 0.0,
        "handling after wake": max(0.0, r["handle"] - 40e-6),
    }
    return max(parts, key=lambda k: parts[k])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threshold", type=float, default=100.0, help="µs")
    ap.add_argument("--spin-arrivals", type=float, default=None)
    ap.add_argument("--realtime", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    _patch()
    opts: dict[str, Any] = {}
    if args.spin_arrivals is not None:
        opts["spin_arrivals"] = args.spin_arrivals
    if args.realtime:
        opts["realtime"] = True
    thr = args.threshold * 1e-6
    counts: dict[str, int] = {}
    states: dict[str, int] = {}
    all_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        for run in range(args.runs):
            pp, cp = f"{d}/p{run}.json", f"{d}/c{run}.json"
            with Pipeline("diag-tail") as pipe:
                src = (DiagSource(pp) @ Rate(hz=500)).named("src")
                sink = (DiagSink(cp) @ Trigger("n", "stamp")).named("sink")
                pipe.connect(src, sink, sync=Latest(), edge_config=EdgeConfig(qsize=16))
            pipe.run(backend="multiprocessing", duration=args.seconds, **opts)
            prod = json.loads(Path(pp).read_text())
            cons = json.loads(Path(cp).read_text())
            rows, s = analyse(prod, cons, thr)
            all_rows += rows
            print(f"run {run}: {s['n']} messages, p50 {s['p50'] * 1e6:.0f} µs, "
                  f"p99 {s['p99'] * 1e6:.0f} µs, over {args.threshold:.0f} µs: {len(s['slow'])}")
            sleeping = [w for w in cons["waits"] if w[1] > 0]
            polling = sum(w[3] - w[2] for w in cons["waits"] if w[1] == 0)
            print(f"   consumer: {len(sleeping)} sleeping waits, polling {polling:.3f} s "
                  f"({polling / args.seconds * 100:.1f}% of the run), gcs "
                  f"{sum(1 for g in cons['gc'] if g[0] == 'start')}")
            naps = np.array([(w[3] - w[2]) - w[1] for w in cons["waits"]
                             if w[0] == "s" and 0 < w[1] <= 0.00011 and w[4] == 0])
            longs = np.array([(w[3] - w[2]) - w[1] for w in cons["waits"]
                              if w[1] > 0.00011 and w[1] < 0.01 and w[4] == 0])
            for label, arr in (("naps", naps), ("timed sleeps", longs)):
                if len(arr):
                    print(f"   {label}: {len(arr)}, overrun " + ", ".join(
                        f"p{q} {np.percentile(arr, q) * 1e6:.0f}" for q in (50, 90, 99, 99.9))
                        + " µs")
            sd = [b - a for a, b in cons["stats"] + prod["stats"]]
            if sd:
                print(f"   stats sends: {len(sd)}, median {statistics.median(sd) * 1e6:.0f} µs, "
                      f"max {max(sd) * 1e6:.0f} µs")
            for r in rows:
                states[f"{r['state']}/{r['window']}"] = states.get(
                    f"{r['state']}/{r['window']}", 0) + 1
            for r in s["slow"]:
                c = cause(r)
                counts[c] = counts.get(c, 0) + 1
                if args.verbose:
                    print("   " + _fmt(r) + f"  => {c}")
    start_up = [r for r in all_rows if r["n"] <= 10]
    print(f"messages over {args.threshold:.0f} µs: {sum(r['lat'] > thr for r in start_up)} of "
          f"the first 10 of each run, {sum(r['lat'] > thr for r in all_rows if r['n'] > 10)} "
          f"of the rest ({len(all_rows) - len(start_up)})")
    inwin = np.array([r["after_start"] for r in all_rows if r["window"] == "in-window"])
    if len(inwin):
        print("arrival after the window's start (µs), in-window messages: "
              + ", ".join(f"p{q} {np.percentile(inwin, q) * 1e6:.0f}"
                          for q in (1, 5, 25, 50, 75, 95, 99)))
    print("where every message landed (consumer state / window):")
    for k, v in sorted(states.items(), key=lambda kv: -kv[1]):
        sub = [r["lat"] for r in all_rows if f"{r['state']}/{r['window']}" == k]
        print(f"  {k:<36} {v:6d}  p50 {statistics.median(sub) * 1e6:6.0f} µs  "
              f"max {max(sub) * 1e6:7.0f} µs  over thr {sum(x > thr for x in sub)}")
    print(f"main cause of the messages over {args.threshold:.0f} µs:")
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {v:4d}  {k}")
    fields = ("sender_late", "send", "wake_lat", "to_recv", "handle", "runq")
    print("median of each part, all messages vs messages over the threshold (µs):")
    slow = [r for r in all_rows if r["lat"] > thr]
    for f in fields:
        a = statistics.median(r[f] for r in all_rows) * 1e6
        b = statistics.median(r[f] for r in slow) * 1e6 if slow else float("nan")
        print(f"  {f:<12} {a:7.1f}  {b:7.1f}")
    sys.stdout.flush()


def _fmt(r: dict[str, Any]) -> str:
    return (f"n={r['n']:5d} lat {r['lat'] * 1e6:6.0f}  sender_late {r['sender_late'] * 1e6:6.0f}"
            f"  send {r['send'] * 1e6:5.0f}  {r['state']:<14}{r['window']:<12}"
            f" wake {r['wake_lat'] * 1e6:5.0f} recv+{r['to_recv'] * 1e6:5.0f}"
            f" handle {r['handle'] * 1e6:5.0f} runq {r['runq'] * 1e6:5.0f}"
            f" gc {r['gc_cons'] * 1e6:4.0f}/{r['gc_prod'] * 1e6:4.0f} stats {r['stats'] * 1e6:3.0f}"
            f" est {r['late_est'] * 1e6:4.0f} early_by {r['early_by'] * 1e6:5.0f}"
            f" late_by {r['late_by'] * 1e6:5.0f} {r['nap']}")


if __name__ == "__main__":
    main()
