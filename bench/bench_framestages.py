"""Where a frame's time goes in a real multiprocessing run, stage by stage (30 Hz).

    .venv/bin/python bench/bench_framestages.py [--seconds S] [--shape 1080x1920x3]

Unlike ``bench_framepath.py`` (both workers in one process, driven by hand), this runs a
``Rate(30)`` frame source -> ``Trigger`` sink pipeline on the multiprocessing backend and
timestamps the channel's steps inside the forked workers (the timing wrappers are
installed before the workers fork; each worker writes its marks when it finalizes).
Medians over the frames, in microseconds:

- publisher: from the channel's ``send`` to the start of the copy (classifying the
  arrays, encoding the header, taking a slot, and, when the frame is announced early,
  sending the datagram), the copy, the commit after it; notified after the copy
  (``RETRIEVER_MP_EARLY_NOTIFY=0``), also the send after the commit;
- the copy helper thread (where it runs): in how many frames it copied a chunk and when
  it first did, after the copy started;
- subscriber: from the publisher's ``send`` to the subscriber's handler (its wake-up:
  0 when it was awake already), reading the datagram, opening it (decoding, viewing the
  slot and, for a frame announced early, waiting for its commit), from the commit to the
  opened message, and filling the port buffers; and the end-to-end p50 the sink saw.

Runs with early notification on and off alternate (``--repeats`` pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _mp_runs import frames_run

from retriever.rt.backends.multiprocessing import worker as worker_mod
from retriever.rt.transport import channel as channel_mod
from retriever.rt.transport import early, shm, streamcopy

clock = time.perf_counter
MARKS: list[tuple[str, float]] = []  # (what, when): this process's, after the fork
OUT = Path(tempfile.mkdtemp(prefix="bench-framestages-"))


def _wrap(cls: Any, attr: str, before: str, after: str) -> None:
    fn = getattr(cls, attr)

    def timed(*a: Any, **k: Any) -> Any:
        if before:
            MARKS.append((before, clock()))
        try:
            return fn(*a, **k)
        finally:
            if after:
                MARKS.append((after, clock()))
    setattr(cls, attr, timed)


def _install() -> None:
    _wrap(channel_mod.OutChannel, "send", "p_send", "")
    _wrap(shm.ShmRing, "write_array", "p_copy", "p_copy_end")
    _wrap(shm.ShmRing, "commit", "", "p_commit")
    _wrap(channel_mod.OutChannel, "_push", "", "p_push")
    _wrap(channel_mod.InChannel, "receive", "c_recv", "c_recv_end")
    _wrap(channel_mod.InChannel, "open", "", "c_open_end")
    _wrap(worker_mod.Scheduler, "on_arrival", "", "c_arrival_end")
    claim = streamcopy._Helper._claim

    def helper_claim(self: Any) -> Any:
        got = claim(self)
        if got is not None and threading.current_thread() is not threading.main_thread():
            MARKS.append(("h_claim", clock()))
        return got
    streamcopy._Helper._claim = helper_claim  # type: ignore[method-assign]
    receiver = worker_mod.Worker._receiver

    def timed_receiver(self: Any, *a: Any) -> Callable[[], None]:
        handler = receiver(self, *a)

        def on_readable() -> None:
            MARKS.append(("c_handler", clock()))
            handler()
        return on_readable
    worker_mod.Worker._receiver = timed_receiver  # type: ignore[method-assign]
    finalize = worker_mod.Worker.finalize

    def dump(self: Any) -> Any:
        (OUT / f"{os.getpid()}.json").write_text(json.dumps(MARKS))
        return finalize(self)
    worker_mod.Worker.finalize = dump  # type: ignore[method-assign]


def _rows(marks: list[list[Any]], first: str) -> list[dict[str, float]]:
    """One dict per frame (a new frame at each ``first`` mark); first time of each mark,
    and the number of helper chunks."""
    rows: list[dict[str, float]] = []
    for name, t in marks:
        if name == first:
            rows.append({})
        if not rows:
            continue
        row = rows[-1]
        if name == "h_claim":
            row["h_n"] = row.get("h_n", 0) + 1
        row.setdefault(name, t)
    return rows


def _med(values: list[float]) -> str:
    return f"{np.median(values) * 1e6:8.1f}" if values else "       -"


def one_run(seconds: float, shape: tuple[int, ...], on: bool) -> None:
    for f in OUT.glob("*.json"):
        f.unlink()
    os.environ[early.EARLY_ENV] = "1" if on else "0"
    with tempfile.TemporaryDirectory() as tmp:
        lat, _ = frames_run(Path(tmp), seconds, shape, "stages")
    marks = [json.loads(f.read_text()) for f in OUT.glob("*.json")]
    prod = next(m for m in marks if any(n == "p_copy" for n, _ in m))
    cons = next(m for m in marks if any(n == "c_recv_end" for n, _ in m))
    p = [r for r in _rows(prod, "p_send") if "p_copy" in r][3:]
    c = [r for r in _rows(cons, "c_handler") if "c_arrival_end" in r][3:]
    k = min(len(p), len(c))
    p, c = p[:k], c[:k]

    def d(rows: list[dict[str, float]], a: str, b: str) -> str:
        return _med([r[b] - r[a] for r in rows if a in r and b in r])

    helped = [r["h_claim"] - r["p_copy"] for r in p if "h_claim" in r]
    both = list(zip(p, c, strict=True))
    print(f"  early notification {'on ' if on else 'off'}: sink p50 {_med(lat)} µs, "
          f"{k} frames")
    print(f"    publisher  send->copy {d(p, 'p_send', 'p_copy')}  copy "
          f"{d(p, 'p_copy', 'p_copy_end')}  ->commit {d(p, 'p_copy_end', 'p_commit')}"
          f"  commit->sent {d(p, 'p_commit', 'p_push')}")
    print(f"    helper     copied a chunk in {len(helped)}/{k} frames, first after "
          f"{_med(helped)}")
    print(f"    subscriber send->handler {_med([b['c_handler'] - a['p_send'] for a, b in both])}"
          f"  receive {d(c, 'c_recv', 'c_recv_end')}  open {d(c, 'c_recv_end', 'c_open_end')}"
          f"  commit->opened {_med([b['c_open_end'] - a['p_commit'] for a, b in both])}"
          f"  arrival {d(c, 'c_open_end', 'c_arrival_end')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--shape", default="1080x1920x3")
    args = ap.parse_args(argv)
    shape = tuple(int(x) for x in args.shape.split("x"))
    _install()
    print(f"== where a {args.shape} frame's time goes in a real run at 30 Hz (µs, medians)")
    for _ in range(args.repeats):
        for on in (True, False):
            one_run(args.seconds, shape, on)
    return 0


if __name__ == "__main__":
    sys.exit(main())
