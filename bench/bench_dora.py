"""Benchmark: the dora backend against raw dora-rs Python nodes, measured in one run.

Figures (median = p50, and p99, of per-message latency, sender clock to receiver clock):

1. a small message at 500 Hz (goal: retriever p50 <= 1.2x raw dora);
2. a 1920x1080x3 uint8 frame at 30 Hz (goal: <= 1.2x raw dora);
3. start-up: from ``pipe.run(...)`` to the first message at the sink (goal: <= 0.5 s),
   beside ``dora run`` of the raw nodes to their first message.

dora's figures swing by up to 2x from one run to the next on a busy machine, so the
runs are interleaved (retriever, raw, retriever, raw, ...) and each figure is the
median of the per-run p50s. Every run is printed.

Run: ``flock /tmp/retriever-heavy.lock .venv/bin/python bench/bench_dora.py
[--only frame|small|startup] [--runs 5] [--seconds 4]``. ``--only startup`` measures
start-up alone, with the variants that show what dora itself spends (see ``_startup``),
and, when this interpreter writes no bytecode (``PYTHONDONTWRITEBYTECODE``) and the
sources have none, retriever with its bytecode compiled beforehand, as an installed
package has it.
Latencies exclude the first 0.5 s of each run (nodes warming up).
"""

from __future__ import annotations

import argparse
import json
import os
import py_compile
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
from retriever.rt.backends.dora.compile import ENV_SHM_POOL, shm_pool_size
from retriever.rt.backends.dora.launch import limit_zenoh_open_wait
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
            t = time.time()  # the frame is ready: from here on, the transport's time
            node.send_output("out", pa.array(buf.reshape(-1)), {"t": t})
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
        # stop the clock where retriever's does: the receiving code holds the value
        v = ev["value"]
        if len(v) == 2:
            now = time.time()
            lat.append(now - v[0].as_py())
        else:
            arr = np.frombuffer(v.buffers()[1], np.uint8)
            now = time.time()
            lat.append(now - ev["metadata"]["t"])
            _ = int(arr[0]) + int(arr[-1])
        if first is None:
            first = now
    elif ev["type"] == "STOP":
        break
with open(os.environ["OUT"], "w") as fh:
    json.dump({"latency": lat, "first_at": first}, fh)
'''


def _raw(tmp: Path, hz: float, shape: str, seconds: float, cli: str,
         pool: int | None, open_wait: float | None = None) -> dict[str, Any]:
    (tmp / "raw_src.py").write_text(RAW_SRC)
    (tmp / "raw_sink.py").write_text(RAW_SINK)
    out = tmp / "raw.json"
    period = f"millis/{round(1000 / hz)}"
    pool_env = f', {ENV_SHM_POOL}: "{pool}"' if pool else ""
    (tmp / "raw.yml").write_text(f'''nodes:
  - id: src
    path: {sys.executable}
    args: -u {tmp / "raw_src.py"}
    env: {{SHAPE: "{shape}"{pool_env}}}
    inputs: {{tick: dora/timer/{period}}}
    outputs: [out]
  - id: sink
    path: {sys.executable}
    args: -u {tmp / "raw_sink.py"}
    env: {{OUT: "{out}"}}
    inputs: {{x: src/out}}
''')
    env = dict(os.environ)
    t0 = time.time()
    limit_zenoh_open_wait(env, tmp, open_wait)  # what retriever does, when asked
    log = (tmp / "raw.log").open("w")
    proc = subprocess.Popen([cli, "run", str(tmp / "raw.yml")], cwd=tmp, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)
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
          qsize: int | None = None, loan: bool = False,
          **options: Any) -> dict[str, Any]:
    out = tmp / "ours.json"
    if shape:
        pipe = F.frames(str(out), hz=hz, shape=shape, qsize=qsize, loan=loan)
    else:
        pipe = F.basic(str(out), hz=hz)
    t0 = time.time()
    pipe.run(backend="dora", duration=seconds, echo=False, **options)
    data = json.loads(out.read_text())
    data["startup"] = data["first_at"] - t0 if data.get("first_at") else float("nan")
    return data


def _trim(lat: list[float], hz: float) -> list[float]:
    return lat[int(WARMUP * hz):] or lat


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _scenario(title: str, hz: float, shape: tuple[int, ...] | None, args: argparse.Namespace,
              cli: str, startups: dict[str, list[float]]) -> None:
    """Interleaved runs (retriever, raw, retriever, raw, ...); per-run and median figures.

    The raw dataflow gets the shared-memory pool retriever gives its publishing nodes
    (an equal footing); for frames it also runs with dora's default pool (8 MiB), which
    is what a raw dataflow gets unless its author raises it, and retriever also runs
    with a source that fills loaned arrays (``Flow.loan``: dora's own sample, no copy).
    """
    shape_s = "x".join(map(str, shape)) if shape else ""
    # the pool retriever gives the publishing node: 64 MiB for frames; none (dora's
    # default) for a message of numbers, which never reaches dora's shared memory
    pool = shm_pool_size(1) if shape else None
    labels = ["retriever", "raw dora"] + (
        ["retriever, loaned frame", "raw dora, default pool"] if shape else [])
    p50s: dict[str, list[float]] = {k: [] for k in labels}
    print(f"\n{title}: {args.runs} interleaved runs x {args.seconds:g} s each "
          f"(first {WARMUP:g} s of each run dropped; pool {pool} bytes)", flush=True)
    for i in range(args.runs):
        for label in labels:
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)
                if label.startswith("retriever"):
                    data = _ours(tmp, hz, shape, args.seconds, args.qsize if shape else None,
                                 loan=label.endswith("loaned frame"))
                else:
                    data = _raw(tmp, hz, shape_s, args.seconds, cli,
                                pool if label == "raw dora" else None)
            xs = _trim(data["latency"], hz)
            p50s[label].append(statistics.median(xs))
            if label in startups:
                startups[label].append(data["startup"])
            print(f"  run {i + 1} {label:<22} p50 {statistics.median(xs) * 1e6:8.0f} us  "
                  f"p99 {_p(xs, 0.99) * 1e6:8.0f} us  n={len(xs):<5} "
                  f"start-up {data['startup']:.3f} s", flush=True)
    med = {k: statistics.median(v) for k, v in p50s.items()}
    ours, raw = med["retriever"], med["raw dora"]
    verdict = "met" if ours / raw <= 1.2 else "NOT met"
    print("  median of per-run p50: " + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in med.items()))
    print(f"  ratio retriever / raw dora (same pool) = {ours / raw:.2f}x (goal <= 1.2x: {verdict})")
    if "retriever, loaned frame" in med:
        print(f"  ratio retriever with a loaned frame / raw dora (same pool) = "
              f"{med['retriever, loaned frame'] / raw:.2f}x")
    if "raw dora, default pool" in med:
        print(f"  ratio retriever / raw dora with dora's default pool = "
              f"{ours / med['raw dora, default pool']:.2f}x")


STARTUP_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("retriever", {}),
    ("retriever, zenoh's 0.5 s open wait", {"zenoh_open_wait": None}),
    ("raw dora", {"open_wait": None}),
    ("raw dora, open wait bounded as ours", {"open_wait": 0.02}),
]
#: Added when this interpreter writes no bytecode (PYTHONDONTWRITEBYTECODE) and the
#: retriever sources have none: each node then compiles retriever's modules from source,
#: which an installed package (bytecode compiled at install) never does.
PRECOMPILED = "retriever, bytecode compiled beforehand"


def _lacks_bytecode() -> bool:
    """Whether nodes started from here compile retriever's modules from source."""
    if not sys.flags.dont_write_bytecode or os.environ.get("PYTHONPYCACHEPREFIX"):
        return False
    return not (ROOT / "retriever" / "__pycache__").is_dir()


def _precompile(prefix: Path) -> None:
    """Bytecode under ``prefix`` (a pycache prefix) of every module a node imports.

    A prefix replaces every ``__pycache__`` directory, so the standard library's and the
    installed packages' modules need their bytecode there too; a child Python lists
    what a node imports, and each source is compiled into the prefix."""
    probe = ("import sys, retriever.rt.backends.dora.partition, tests.dora_flows\n"
             "print('\\n'.join(getattr(m, '__file__', None) or '' "
             "for m in list(sys.modules.values())))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    old = sys.pycache_prefix
    sys.pycache_prefix = str(prefix)
    try:
        for src in out.stdout.split():
            if src.endswith(".py"):
                py_compile.compile(src, doraise=False, quiet=1)
    finally:
        sys.pycache_prefix = old


def _startup(args: argparse.Namespace, cli: str) -> None:
    """Start-up alone: ``run()`` (or ``dora run``) to the first message at the sink,
    interleaved, for retriever as it runs by default, retriever with zenoh's own open
    wait (what it did before), raw dora as it comes, and raw dora given the same
    bounded wait; when nodes would compile retriever from source (see
    :data:`PRECOMPILED`), also retriever with its bytecode compiled beforehand. The
    small-message pipeline, ``--seconds`` per run (1 s is enough)."""
    hz, seconds = 500.0, min(args.seconds, 1.5)
    variants = list(STARTUP_VARIANTS)
    with tempfile.TemporaryDirectory() as pyc:
        if _lacks_bytecode():
            _precompile(Path(pyc))
            variants.insert(1, (PRECOMPILED, {}))
        runs: dict[str, list[float]] = {label: [] for label, _ in variants}
        p50: dict[str, list[float]] = {label: [] for label, _ in variants}
        print(f"\nstart-up: {args.runs} interleaved runs of each, {seconds:g} s each "
              "(small message @ 500 Hz)", flush=True)
        for i in range(args.runs):
            for label, opts in variants:
                if label == PRECOMPILED:  # inherited by dora and the nodes it starts
                    os.environ["PYTHONPYCACHEPREFIX"] = pyc
                try:
                    with tempfile.TemporaryDirectory() as d:
                        tmp = Path(d)
                        if label.startswith("retriever"):
                            data = _ours(tmp, hz, None, seconds, **opts)
                        else:
                            # numbers only: dora's default pool, as retriever gives
                            data = _raw(tmp, hz, "", seconds, cli, None, **opts)
                finally:
                    if label == PRECOMPILED:
                        os.environ.pop("PYTHONPYCACHEPREFIX", None)
                runs[label].append(data["startup"])
                lat = _trim(data["latency"], hz)
                p50[label].append(statistics.median(lat) if lat else float("nan"))
                print(f"  run {i + 1} {label:<40} start-up {data['startup']:.3f} s   "
                      f"(message p50 {p50[label][-1] * 1e6:5.0f} us)", flush=True)
    print("  median start-up (and median message p50: the data path is unchanged):")
    for label, values in runs.items():
        print(f"    {label:<42} {statistics.median(values):.3f} s   "
              f"{statistics.median(p50[label]) * 1e6:5.0f} us")
    ours = statistics.median(runs["retriever"])
    bounded = statistics.median(runs["raw dora, open wait bounded as ours"])
    print(f"  retriever adds {ours - bounded:+.3f} s to raw dora with the same open wait")
    if PRECOMPILED in runs:
        print("  (this interpreter writes no bytecode and retriever's sources have none, so "
              "each node compiles retriever's modules from source; an installed package "
              f"does not: {statistics.median(runs[PRECOMPILED]):.3f} s)")
    print(f"  goal: retriever <= 0.5 s: {'met' if ours <= 0.5 else 'NOT met'} "
          f"({ours:.3f} s; raw dora as it comes "
          f"{statistics.median(runs['raw dora']):.3f} s)")


def main() -> None:
    """Run each scenario ``--runs`` times, retriever and raw dora interleaved."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=5, help="runs of each (interleaved)")
    ap.add_argument("--only", choices=["small", "frame", "startup"], default=None,
                    help="one section; startup: run() to the first message only")
    ap.add_argument("--qsize", type=int, default=1,
                    help="queue size of the frame edge (default 1: latest frame only)")
    args = ap.parse_args()
    cli = check_install().cli
    os.chdir(ROOT)
    if args.only == "startup":
        _startup(args, cli)
        return
    scenarios = [("small message @ 500 Hz", 500.0, None),
                 ("1920x1080x3 uint8 frame @ 30 Hz", 30.0, (1080, 1920, 3))]
    if args.only:
        scenarios = [s for s in scenarios if (s[2] is None) == (args.only == "small")]
    startups: dict[str, list[float]] = {"retriever": [], "raw dora": []}
    for title, hz, shape in scenarios:
        _scenario(title, hz, shape, args, cli, startups)
    ours, raw = statistics.median(startups["retriever"]), statistics.median(startups["raw dora"])
    print(f"\nstart-up to the first message at the sink (median of {len(startups['raw dora'])}"
          " runs each, both scenarios; --only startup compares the variants)")
    print(f"  raw dora (`dora run` of the raw dataflow)   {raw:.3f} s")
    print(f"  retriever (pipe.run(backend='dora'))        {ours:.3f} s   (goal <= 0.5 s: "
          f"{'met' if ours <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
