"""Benchmark: the dora backend against raw dora-rs Python nodes, measured in one run.

Figures (median = p50, and p99, of per-message latency, sender clock to receiver clock):

1. a small message at 500 Hz (goal: retriever p50 <= 1.2x raw dora);
2. a 1920x1080x3 uint8 frame at 30 Hz (goal: <= 1.2x raw dora);
3. start-up: from ``pipe.run(...)`` to the first message at the sink (goal: <= 1 s),
   beside ``dora run`` of the raw nodes to their first message.

Run: ``.venv/bin/python bench/bench_dora.py [--seconds 4] [--repeats 3]``.
Latencies exclude the first 0.5 s of each run (nodes warming up).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retriever.rt.backends.dora.compat import check_install
from tests import dora_flows as F

WARMUP = 0.5

RAW_SRC = '''
import os, sys, time
import numpy as np, pyarrow as pa
from dora import Node
shape = tuple(int(s) for s in os.environ["SHAPE"].split("x")) if os.environ.get("SHAPE") else None
node = Node()
buf = np.zeros(shape, np.uint8) if shape else None
k = 0
for ev in node:
    if ev["type"] == "INPUT":
        if buf is None:
            node.send_output("out", pa.array([time.time(), float(k)]))
        else:
            buf.fill(k % 251)
            node.send_output("out", pa.array(buf.reshape(-1)), {"t": time.time()})
        k += 1
    elif ev["type"] == "STOP":
        break
'''

RAW_SINK = '''
import json, os, time
import numpy as np
from dora import Node
node = Node()
lat, first = [], None
for ev in node:
    if ev["type"] == "INPUT":
        now = time.time()
        if first is None:
            first = now
        v = ev["value"]
        if len(v) == 2:
            lat.append(now - v[0].as_py())
        else:
            arr = np.frombuffer(v.buffers()[1], np.uint8)
            _ = int(arr[0]) + int(arr[-1])
            lat.append(now - ev["metadata"]["t"])
    elif ev["type"] == "STOP":
        break
with open(os.environ["OUT"], "w") as fh:
    json.dump({"latency": lat, "first_at": first}, fh)
'''


def _raw(tmp: Path, hz: float, shape: str, seconds: float, cli: str) -> dict[str, Any]:
    (tmp / "raw_src.py").write_text(RAW_SRC)
    (tmp / "raw_sink.py").write_text(RAW_SINK)
    out = tmp / "raw.json"
    period = f"millis/{round(1000 / hz)}"
    (tmp / "raw.yml").write_text(f'''nodes:
  - id: src
    path: {sys.executable}
    args: -u {tmp / "raw_src.py"}
    env: {{SHAPE: "{shape}"}}
    inputs: {{tick: dora/timer/{period}}}
    outputs: [out]
  - id: sink
    path: {sys.executable}
    args: -u {tmp / "raw_sink.py"}
    env: {{OUT: "{out}"}}
    inputs: {{x: src/out}}
''')
    t0 = time.time()
    log = (tmp / "raw.log").open("w")
    proc = subprocess.Popen([cli, "run", str(tmp / "raw.yml")], cwd=tmp, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + seconds + 15
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    proc.wait(max(1.0, deadline - time.monotonic()))
    log.close()
    if not out.exists():
        raise SystemExit("raw dora run failed:\n" + (tmp / "raw.log").read_text()[-3000:])
    data = json.loads(out.read_text())
    data["startup"] = data["first_at"] - t0 if data["first_at"] else float("nan")
    return data


def _ours(tmp: Path, hz: float, shape: tuple[int, ...] | None, seconds: float,
          qsize: int | None = None) -> dict[str, Any]:
    out = tmp / "ours.json"
    if shape:
        pipe = F.frames(str(out), hz=hz, shape=shape, qsize=qsize)
    else:
        pipe = F.basic(str(out), hz=hz)
    t0 = time.time()
    pipe.run(backend="dora", duration=seconds, echo=False)
    data = json.loads(out.read_text())
    data["startup"] = data["first_at"] - t0 if data.get("first_at") else float("nan")
    return data


def _trim(lat: list[float], hz: float) -> list[float]:
    return lat[int(WARMUP * hz):] or lat


def _fmt(xs: list[float]) -> str:
    xs = sorted(xs)
    p50 = statistics.median(xs)
    p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))]
    return f"p50 {p50 * 1e6:9.0f} us  p99 {p99 * 1e6:9.0f} us  (n={len(xs)})"


def main() -> None:
    """Run every scenario ``--repeats`` times and print figures side by side."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["small", "frame"], default=None)
    ap.add_argument("--qsize", type=int, default=1,
                    help="queue size of the frame edge for the main figure (default 1)")
    args = ap.parse_args()
    cli = check_install().cli
    os.chdir(ROOT)
    scenarios = [("small message @ 500 Hz", 500.0, None),
                 ("1920x1080x3 frame @ 30 Hz", 30.0, (1080, 1920, 3))]
    if args.only:
        scenarios = [s for s in scenarios if (s[2] is None) == (args.only == "small")]
    startups: dict[str, list[float]] = {"raw": [], "ours": []}
    for title, hz, shape in scenarios:
        variants: list[tuple[str, int | None]] = [("retriever", None)]
        if shape:
            variants = [(f"retriever qsize={args.qsize}", args.qsize),
                        ("retriever qsize=default(2)", None)]
        lat: dict[str, list[float]] = {"raw dora": []} | {v: [] for v, _ in variants}
        p50s: dict[str, list[float]] = {k: [] for k in lat}
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)
                shape_s = "x".join(map(str, shape)) if shape else ""
                runs = {"raw dora": _raw(tmp, hz, shape_s, args.seconds, cli)}
                for label, q in variants:
                    runs[label] = _ours(tmp, hz, shape, args.seconds, q)
            for label, data in runs.items():
                xs = _trim(data["latency"], hz)
                lat[label] += xs
                p50s[label].append(statistics.median(xs))
            startups["raw"].append(runs["raw dora"]["startup"])
            startups["ours"].append(runs[variants[0][0]]["startup"])
        print(f"\n{title} ({args.repeats} runs x {args.seconds:g} s)")
        for label, xs in lat.items():
            print(f"  {label:<28} {_fmt(xs)}   per-run p50 "
                  + ", ".join(f"{x * 1e6:.0f}" for x in p50s[label]))
        base = statistics.median(lat["raw dora"])
        for label, _q in variants:
            ratio = statistics.median(lat[label]) / base
            print(f"  ratio p50 {label} / raw = {ratio:.2f}x (goal <= 1.2x)")
    print("\nstart-up to first message at the sink (median of all runs)")
    print(f"  raw dora run  {statistics.median(startups['raw']):.3f} s")
    print(f"  retriever     {statistics.median(startups['ours']):.3f} s (goal <= 1 s)")


if __name__ == "__main__":
    main()
