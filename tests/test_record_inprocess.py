"""Recorded inputs are the same whichever way a pipeline is stepped: ``pipe.record``
(the lockstep stepper) and ``pipe.run(backend="in-process", record=...)`` (the stepper
honouring each clock) write the same inputs for the same deterministic graph, and in
both the writer process rebuilds the scalar inputs it can (``record/derive.py``)
instead of receiving them. Each recording is checked against one written inline, which
records every input object exactly as the flow sampled it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io
from retriever.record import RecordConfig
from retriever.record.session import RecordingRun

from .test_record_derive import _everything, build


def _values(path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every flow's recorded values per side, in order (step indices and times left
    out: the two steppers count steps and add up times in their own ways)."""
    return {key: [m for _, _, m in rows] for key, rows in _everything(path).items()}


def _run(pipe: Pipeline, path: Path, *, steps: int, dt: float, writer: str = "process"
         ) -> RecordingRun:
    run = pipe.run(backend="in-process", duration=(steps - 0.5) * dt, dt=dt,
                   record=RecordConfig(path=path, writer=writer), blocking=False)
    assert isinstance(run, RecordingRun)
    run.wait(30)
    assert not run.running
    return run


def test_in_process_run_records_the_inputs_pipe_record_records(tmp_path: Path) -> None:
    build().record(tmp_path / "stepper.mcap", steps=9, dt=0.1)
    run = _run(build(), tmp_path / "run.mcap", steps=9, dt=0.1)
    _run(build(), tmp_path / "inline.mcap", steps=9, dt=0.1, writer="inline")
    # the run's writer rebuilt the scalar inputs (the plan held to the end)
    assert getattr(run.recorder, "_plan", None) is not None
    stepper, ran, inline = (_values(tmp_path / f"{n}.mcap")
                            for n in ("stepper", "run", "inline"))
    assert ran == inline
    assert ran == stepper
    assert len(ran[("rate", "in")]) == 9 and ran[("rate", "in")][1]["label"] == "n2"
    assert len(ran[("trig", "in")]) == 6  # triggered on the steps that carried a value


@io
class Count:
    n: int


class Counter(Flow[None, Count]):
    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Count:
        self.k += 1
        return Count(n=self.k)


class Double(Flow[Count, Count]):
    def step(self, c: Count) -> Count:
        return Count(n=2 * (c.n or 0))


def _catching_up() -> Pipeline:
    pipe = Pipeline("behind")
    fast = (Counter() @ Rate(hz=40, on_lag="catch_up")).named("fast")
    slow = (Double() @ Rate(hz=10)).named("slow")
    trig = (Double() @ Trigger("n")).named("trig")
    pipe.connect(fast, slow, sync=Latest())
    pipe.connect(fast, trig, sync=Latest())
    return pipe


def test_a_flow_catching_up_makes_the_run_send_every_input(tmp_path: Path) -> None:
    # steps of 0.1 s: the 40 Hz flow runs four times per step, at its own tick times,
    # and the Trigger flow after each of those runs; only the last of each is in the
    # step, so rebuilding could not be exact: every input is sent instead
    run = _run(_catching_up(), tmp_path / "run.rrd", steps=5, dt=0.1)
    _run(_catching_up(), tmp_path / "inline.rrd", steps=5, dt=0.1, writer="inline")
    assert getattr(run.recorder, "_plan", "unset") is None
    ran, inline = _values(tmp_path / "run.rrd"), _values(tmp_path / "inline.rrd")
    assert ran == inline
    assert [m["n"] for m in ran[("slow", "in")]] == [1, 5, 9, 13, 17]
