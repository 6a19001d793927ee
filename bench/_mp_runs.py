"""One measured run of each multiprocessing figure, shared by ``bench_mp.py``'s
sections, its portable-mode comparison (``_mp_portable.py``) and ``bench_iceoryx2.py``."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import numpy as np
from _mp_flows import (
    Frame,
    FrameSink,
    FrameSource,
    LoanFrameSource,
    StampSink,
    StampSource,
    ms,
    pct,
    read,
    run_pipe,
    us,
)

from retriever.flow import EdgeConfig, Flow, Latest, Pipeline, Rate, Trigger

LATENCY_QSIZE = 16


def latency_run(tmp: Path, seconds: float, name: str, **options: Any
                 ) -> tuple[list[float], str, float, str]:
    """One run; returns the latencies, a summary line and the CPU time of the worker
    processes (user + system seconds, both workers, start-up and finalize included)
    per second of run."""
    out = tmp / f"{name}.json"
    with Pipeline("bench-latency") as pipe:
        src = (StampSource() @ Rate(hz=500)).named("src")
        sink = (StampSink(str(out)) @ Trigger("n", "stamp")).named("sink")
        # the sink steps once per arrival; qsize lets it fall LATENCY_QSIZE messages
        # behind (an OS hiccup) before the oldest waiting ones would be dropped
        pipe.connect(src, sink, sync=Latest(), edge_config=EdgeConfig(qsize=LATENCY_QSIZE))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rep = run_pipe(pipe, seconds, **options)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / seconds
    d = read(out)
    sent = rep.flows["src"].steps
    lost = sent - len(set(d["seen"]))
    granted = rep.flows["sink"].scheduling
    return d["lat"], (f"p50 {us(pct(d['lat'], 50))}  p99 {us(pct(d['lat'], 99))}  "
            f"cpu {cpu:4.2f} s/s  sent {sent} lost {lost} "
            f"(queue drops {rep.flows['sink'].dropped}, source lag events "
            f"{rep.flows['src'].lag_events})"), cpu, granted


def frames_run(tmp: Path, seconds: float, shape: tuple[int, ...], name: str,
                loan: str = "", **options: Any) -> tuple[list[float], str]:
    out = tmp / f"{name}.json"
    with Pipeline("bench-frames") as pipe:
        src: Flow[None, Frame] = (LoanFrameSource(list(shape), loan) if loan
                                  else FrameSource(list(shape)))
        cam = (src @ Rate(hz=30)).named("cam")
        sink = (FrameSink(str(out)) @ Trigger("image", "n", "stamp")).named("sink")
        pipe.connect(cam, sink, sync=Latest())
    rep = run_pipe(pipe, seconds, **options)
    lat = read(out)["lat"]
    return lat, (f"p50 {ms(pct(lat, 50))}  p99 {ms(pct(lat, 99))}  "
                 f"frames {len(lat)}/{rep.flows['cam'].steps}")


def period_stats(times: list[float], hz: float) -> tuple[float, float, float]:
    period = 1.0 / hz
    t = np.asarray(times)
    err = np.abs(np.diff(t) - period)
    # drift: how far the last tick is from the absolute grid started by the first one
    # (a skipped tick moves to the next grid point, it does not shift the grid)
    span = t[-1] - t[0]
    drift = span - round(span / period) * period
    return float(np.percentile(err, 50)), float(np.percentile(err, 99)), float(drift)
