"""Encode/decode time of payload types through the message codec, beside pickle.

Run: ``.venv/bin/python bench/bench_codec.py [--batches 300] [--calls 50]``

Cases: one ``Pose`` and one 1,000-joint ``JointState`` (names plus three float64
arrays), each sent as a one-port message ``{"value": ...}`` through
``retriever.contract.wire.MessageCodec`` (decode rebuilds the declared type). The
baseline is ``pickle`` (protocol 5) of the same message, measured in the same run.
Each figure is the per-call time of a batch of ``--calls`` calls; the median and p99
over ``--batches`` batches are printed. The goal is codec < pickle.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from retriever.contract.wire import MessageCodec
from retriever.types.spatial import Header, JointState, Pose, Quaternion, Vector3


def measure(fn: Callable[[], Any], batches: int, calls: int) -> tuple[float, float]:
    """(median, p99) per-call time in microseconds."""
    for _ in range(calls):
        fn()  # warm up
    samples = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def cases() -> list[tuple[str, Any, type]]:
    """The payloads benchmarked."""
    rng = np.random.default_rng(0)
    pose = Pose(Vector3(1.0, 2.0, 3.0), Quaternion.from_euler(0.1, 0.2, 0.3))
    n = 1000
    joints = JointState(Header("arm", 1_700_000_000_000_000_000),
                        [f"joint_{i}" for i in range(n)], rng.random(n), rng.random(n),
                        rng.random(n))
    return [("Pose", pose, Pose), ("JointState x1000", joints, JointState)]


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    print(f"per-call time in microseconds, median / p99 of {args.batches} batches of "
          f"{args.calls} calls")
    print(f"{'payload':<18} {'op':<7} {'codec':>17} {'pickle':>17} {'speed-up':>9} {'bytes':>15}")
    for label, value, tp in cases():
        codec = MessageCodec({"value": tp})
        msg = {"value": value}
        data = codec.encode(msg)
        blob = pickle.dumps(msg, protocol=5)
        back = codec.decode(data)["value"]
        if back != value or type(back) is not tp:
            raise SystemExit(f"{label}: codec round trip changed the value")
        for op, ours, theirs in (
            ("encode", partial(codec.encode, msg), partial(pickle.dumps, msg, protocol=5)),
            ("decode", partial(codec.decode, data), partial(pickle.loads, blob)),
        ):
            c_med, c_p99 = measure(ours, args.batches, args.calls)
            p_med, p_p99 = measure(theirs, args.batches, args.calls)
            size = f"{len(data)} vs {len(blob)}" if op == "encode" else ""
            print(f"{label:<18} {op:<7} {c_med:>8.2f} / {c_p99:>6.2f} "
                  f"{p_med:>8.2f} / {p_p99:>6.2f} {p_med / c_med:>8.2f}x {size:>15}")


if __name__ == "__main__":
    main()
