"""Where a frame's time goes on the multiprocessing backend, stage by stage, at 30 Hz.

    .venv/bin/python bench/bench_framepath.py [--frames N] [--shape 1080x1920x3]

The two workers of a ``Rate(30)`` frame source -> ``Trigger`` sink pipeline are built
in this one process (the same ``Worker`` objects a run forks) and driven by hand, one
frame every 33 ms, so that each stage finds the caches as cold as a real 30 Hz run
does. Two sources: "copy" returns a private frame that the runtime copies into a slot,
"loan" fills a loaned slot (``Flow.loan``) with ``np.copyto``. Both take their stamp
once the frame is complete. Stages, in microseconds (median):

- ``publish``: from the stamp to the hand-over to the channel (flattening the
  envelope, checking the loans, routing);
- ``send``: the channel's work, of which ``copy`` is the copy into the slot (copy path
  only; streaming stores shared by two threads where available, see
  ``retriever/rt/transport/streamcopy.py``) and ``notify`` the datagram's send;
- ``receive``, ``open``, ``arrival``, ``triggered``: the consumer, as in
  ``bench_msgpath.py`` (read the datagram, decode it and view the slot, fill the port
  buffers, sample and step the sink).

Below, the same copies without any runtime, measured in the same run: the copy in alone
(``np.copyto``, and the runtime's own copy routine), and copy in + copy out paced and
back to back (the baselines of ``bench_mp.py --section frames``).

The wake-up of a sleeping consumer is not in these figures (one process);
``bench_mp.py --section frames`` measures everything end to end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _mp_flows as B
from _raw import baseline_copy

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.worker import Worker
from retriever.rt.transport import channel as channel_mod
from retriever.rt.transport.shm import ShmRing

STAGES = ("publish", "send", "copy", "notify", "receive", "open", "arrival", "triggered")


def build(tmp: Path, shape: tuple[int, ...], loan: bool) -> tuple[Worker, Worker, Any]:
    with Pipeline("bench-framepath") as pipe:
        src: Flow[None, B.Frame] = (B.LoanFrameSource(list(shape), "copyto") if loan
                                    else B.FrameSource(list(shape)))
        cam = (src @ Rate(hz=30)).named("cam")
        sink = (B.FrameSink(str(tmp / "sink.json")) @ Trigger("image", "n", "stamp")
                ).named("sink")
        pipe.connect(cam, sink, sync=Latest())
    return B.workers_in_one_process(pipe, "cam", "sink")


class _Timed:
    """Wraps a callable and adds the time spent in it to ``spent``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.spent = 0.0

    def __call__(self, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.fn(*args)
        finally:
            self.spent += time.perf_counter() - t


def stages(n: int, shape: tuple[int, ...], loan: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in STAGES}
    copy = _Timed(ShmRing.write_array)
    push = _Timed(channel_mod.OutChannel._push)
    saved = ShmRing.write_array, channel_mod.OutChannel._push
    ShmRing.write_array = lambda *a: copy(*a)  # type: ignore[method-assign]
    channel_mod.OutChannel._push = lambda *a: push(*a)  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prod, cons, plan = build(Path(tmp), shape, loan)
            t0 = time.monotonic() - 1
            prod.t0 = cons.t0 = t0
            inc, _ = cons.ins[0]
            ch = plan.channels[0]
            routes = [(cons.runtimes[d], pairs) for d, pairs in ch.routes["cam"]]
            sched = cons.sched
            send = _Timed(prod.sched.send)  # type: ignore[arg-type]
            prod.sched.send = send
            clock = time.perf_counter
            for i in range(n):
                time.sleep(1 / 30)
                copy.spent = push.spent = send.spent = 0.0
                prod.sched.tick(time.monotonic() - t0, lockstep=True)
                b = clock()
                (data,) = inc.receive()
                c = clock()
                got = inc.open(data)
                d = clock()
                assert got is not None
                stamp = got[2]["stamp"]
                sched.on_arrival(routes, got[1], got[2])
                e = clock()
                sched.run_triggered(time.monotonic() - t0)
                f = clock()
                if i < 3:  # the first frames map and fault in the slots
                    continue
                # the sink measured stamp -> its step; the producer's share ends at b
                producer = b - stamp
                values = (producer - send.spent, send.spent, copy.spent, push.spent,
                          c - b, d - c, e - d, f - e)
                for key, v in zip(STAGES, values, strict=True):
                    out[key].append(v)
            prod.finalize()
            cons.finalize()
    finally:
        ShmRing.write_array, channel_mod.OutChannel._push = saved  # type: ignore[method-assign]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--shape", default="1080x1920x3")
    args = ap.parse_args(argv)
    shape = tuple(int(x) for x in args.shape.split("x"))
    print(f"== where a {args.shape} uint8 frame's time goes at 30 Hz (µs, median of "
          f"{args.frames - 3} frames; one process, no wake-up)")
    print(f"  {'':<6}" + "".join(f"{k:>10}" for k in STAGES) + f"{'total':>10}")
    for loan in (False, True):
        st = stages(args.frames, shape, loan)
        med = {k: float(np.median(v)) * 1e6 for k, v in st.items()}
        total = med["publish"] + med["send"] + sum(med[k] for k in STAGES[4:])
        print(f"  {'loan' if loan else 'copy':<6}" + "".join(f"{med[k]:10.1f}" for k in STAGES)
              + f"{total:10.1f}")
    print("  the same copies without a runtime, in this run (µs, median):")
    n = args.frames
    for label, times in (
            ("copy in, after 33 ms idle, np.copyto", baseline_copy(shape, n, 1 / 30, out=False)),
            ("copy in, after 33 ms idle, as the runtime (streamcopy)",
             baseline_copy(shape, n, 1 / 30, out=False, runtime_copy=True)),
            ("copy in + copy out, after 33 ms idle", baseline_copy(shape, n, 1 / 30)),
            ("copy in + copy out, back to back", baseline_copy(shape, n))):
        print(f"    {label:<56}{float(np.median(times[3:])) * 1e6:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
