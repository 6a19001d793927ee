"""``retriever replay PIPELINE RECORDING``: run a pipeline on recorded data.

The replayed flows (``--flow``, default: every recorded flow without inputs) publish
their recorded outputs; the rest of the pipeline runs on them in the in-process stepper
for ``--steps`` steps, and each step's outputs are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``replay`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "replay", help="run a pipeline on a recording (recorded flows replace live ones)")
    p.add_argument("pipeline", help="file.py:NAME, package.module:NAME or a registered name")
    p.add_argument("recording", help="a .rrd or .mcap recording")
    p.add_argument("--flow", action="append", default=[],
                   help="flow to replay (repeatable; default: recorded flows without inputs)")
    p.add_argument("--steps", type=int, default=None,
                   help="steps to run (default: as many as were recorded)")
    p.add_argument("--dt", type=float, default=None,
                   help="seconds per step (default: the recording's step)")
    p.add_argument("--mode", choices=("step", "time"), default="step",
                   help="replay by step index (default) or by time")
    p.add_argument("--record", default=None, help="also record the replayed run to this file")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)
    return p


class _StandIn:
    def reset(self) -> None:
        """Nothing to start."""

    def step(self, _: Any) -> None:
        """Never called."""

    def finalize(self) -> None:
        """Nothing to release."""


def _default_dt(rec: Any) -> float | None:
    times: dict[int, float] = {}
    for samples in rec.samples.values():
        for s in samples:
            times.setdefault(s.step, s.time)
    steps = sorted(times)
    if len(steps) < 2:
        return None
    return (times[steps[-1]] - times[steps[0]]) / (steps[-1] - steps[0]) or None


def run(args: argparse.Namespace) -> int:
    """Replay and print."""
    from retriever.contract.errors import ConfigError
    from retriever.flow.pipeline import Pipeline
    from retriever.ir.lower import lower
    from retriever.record import RecordConfig, TruncatedRecordingWarning, open_recorder
    from retriever.record.reader import open_recording
    from retriever.record.replay import source_for
    from retriever.record.visual import preview
    from retriever.rt.stepper import Stepper

    from .load import load_pipeline

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedRecordingWarning)
        rec = open_recording(args.recording)
    _show(caught)
    obj = load_pipeline(args.pipeline)
    pipe = obj if isinstance(obj, Pipeline) else None
    ir = lower(obj) if isinstance(obj, Pipeline) else obj
    names = args.flow or [n.id for n in ir.nodes if not n.input_ports and n.id in rec.flows]
    if not names:
        raise ConfigError("no flow to replay: the pipeline's sources are not in the recording",
                          hint="name flows with --flow; recorded: " + ", ".join(rec.flows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedRecordingWarning)
        sources = {n: source_for(rec, ir.node(n), mode=args.mode) for n in names}
    _show(caught)
    live = {str(tf.name): tf.flow for tf in pipe.nodes} if pipe is not None else {}
    live.update({n: _StandIn() for n in names})
    stepper = Stepper(ir, live)
    stepper.replay.update(sources)
    recorder = (open_recorder(ir, RecordConfig.coerce(args.record), stepper=stepper)
                if args.record else None)
    if recorder is not None:
        stepper.observers.append(recorder)
    span = rec.steps
    steps = args.steps if args.steps is not None else (span[1] + 1 if span else 0)
    dt = args.dt or _default_dt(rec) or stepper.default_dt()
    printed = 0
    try:
        for _ in range(steps):
            result = stepper.step(dt=dt)
            if args.quiet:
                continue
            outs = {f: m for f, m in result.messages.items() if f not in sources}
            text = json.dumps({f: {p: _short(preview(v)) for p, v in m.items()}
                               for f, m in outs.items()})
            print(f"step {stepper.index - 1} t={result.now:.3f} {text}")
            printed += 1
    finally:
        try:
            stepper.close()
        finally:
            if recorder is not None:
                recorder.close()
    served = ", ".join(f"{n}: {s.served}/{len(s)}" for n, s in sources.items())
    print(f"replayed {steps} steps of {rec.path} (dt={dt:.4g}s); recorded messages used: "
          f"{served}" + (f"; recorded to {args.record}" if args.record else ""))
    if rec.truncated:
        lost = [note for s in sources.values() for note in s.lost]
        kept = f"it holds data of steps {span[0]}..{span[1]}" if span else "it holds no step"
        print(f"the recording was cut off mid-write ({kept}; anything later is lost)"
              + (": " + "; ".join(lost) if lost else "; every replayed step was whole"))
    return 0


def _show(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
