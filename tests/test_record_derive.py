"""Inputs the recording writer rebuilds from the outputs (``record/derive.py``) are
exactly the inputs the flows sampled: every recording here is written twice from the
same steps, once by the writer process (which rebuilds what it can) and once inline
(which records each sampled input object as it is), and both must read back the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retriever  # noqa: F401  (installs the runtime and the recorder)
from retriever.flow import Flow, Hold, Hybrid, Latest, Pipeline, Rate, Tick, Trigger, io
from retriever.record import RecordConfig, open_recording
from retriever.record.derive import immutable_scalar, plan_inputs
from retriever.record.offload import OffloadRecorder, open_recorder
from retriever.rt.facade import close_stepper, stepper_for
from retriever.rt.stepper import Stepper


@io
class Reading:
    value: float
    count: int
    label: str


@io
class Mixed:
    value: float
    count: int
    label: str
    frame: np.ndarray


@io
class Pair:
    value: float
    count: int


class Source(Flow[None, Mixed]):
    """Publishes a frame every step, the scalars on two steps of three."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Mixed:
        self.k += 1
        if self.k % 3 == 0:
            return Mixed(frame=np.full(3, self.k, np.uint8))
        return Mixed(value=self.k * 0.25, count=self.k, label=f"n{self.k}",
                     frame=np.full(3, self.k, np.uint8))


class Smooth(Flow[Reading, Reading]):
    def reset(self) -> None:
        self.avg = 0.0

    def step(self, r: Reading) -> Reading:
        self.avg = 0.5 * self.avg + 0.5 * float(r.value or 0.0)
        return Reading(value=self.avg, count=r.count, label=r.label)


class Both(Flow[Pair, Pair]):
    def step(self, p: Pair) -> Pair:
        return Pair(value=(p.value or 0.0) + 1.0, count=p.count)


class Frames(Flow[Mixed, None]):
    def step(self, m: Mixed) -> None:
        self.last = m.frame


class Quiet(Flow[Reading, None]):
    def step(self, r: Reading) -> None:
        self.last = r


def build() -> Pipeline:
    """Rate, Trigger, Hybrid and Tick consumers; fan-in from two flows into one flow;
    a Hold adapter and an array port (whose inputs are sent, not rebuilt)."""
    pipe = Pipeline("derive")
    src = (Source() @ Rate(hz=10)).named("src")
    trig = (Smooth() @ Trigger("value")).named("trig")
    rate = (Smooth() @ Rate(hz=10)).named("rate")
    hybrid = (Both() @ Hybrid(10, trigger=("value",))).named("hybrid")
    tick = (Quiet() @ Tick(10)).named("tick")
    held = (Smooth() @ Rate(hz=10)).named("held")
    frames = (Frames() @ Trigger("frame")).named("frames")
    pipe.connect(src, trig, sync=Latest())
    pipe.connect(src, rate, sync=Latest())
    pipe.connect(trig, hybrid, sync=Latest(), map={"value": "value"})
    pipe.connect(src, hybrid, sync=Latest(), map={"count": "count"})
    pipe.connect(src, tick, sync=Latest())
    pipe.connect(src, held, sync=Hold(0.25))
    pipe.connect(src, frames, sync=Latest(), map={"frame": "frame"})
    return pipe


def _everything(path: Path) -> dict[tuple[str, str], Any]:
    rec = open_recording(path)
    out = {}
    for flow in rec.flows:
        for side in ("out", "in"):
            out[(flow, side)] = [(s, t, {k: v.tolist() if isinstance(v, np.ndarray) else v
                                         for k, v in m.items()})
                                 for s, t, m in rec.messages(flow, side)]
    return out


def _both(stepper: Stepper, tmp: Path, fmt: str = "mcap") -> tuple[Any, Any]:
    rebuilt = open_recorder(stepper.ir, RecordConfig(path=tmp / f"rebuilt.{fmt}"),
                            stepper=stepper)
    inline = open_recorder(stepper.ir, RecordConfig(path=tmp / f"inline.{fmt}",
                                                    writer="inline"))
    assert isinstance(rebuilt, OffloadRecorder)
    stepper.observers += [rebuilt, inline]
    return rebuilt, inline


def _compare(tmp: Path, fmt: str = "mcap") -> dict[tuple[str, str], Any]:
    got, want = _everything(tmp / f"rebuilt.{fmt}"), _everything(tmp / f"inline.{fmt}")
    assert got == want
    return got


@pytest.mark.parametrize("fmt", ["mcap", "rrd"])
def test_rebuilt_inputs_are_the_sampled_inputs(tmp_path: Path, fmt: str) -> None:
    pipe = build()
    stepper = stepper_for(pipe)
    for _ in range(4):  # the stepper ran before: its ports already hold values
        stepper.step(dt=0.1)
    plan = plan_inputs(stepper)
    assert plan is not None
    # scalar ports through Latest are rebuilt; Hold and the array port are sent
    assert set(plan.derived) == {"src", "trig", "rate", "hybrid", "tick"}
    assert set(plan.encoded) == {"held", "frames"}
    assert plan.latest[("rate", "label")] == "n4"
    rebuilt, inline = _both(stepper, tmp_path, fmt)
    for _ in range(12):
        stepper.step(dt=0.1)
    rebuilt.close()
    inline.close()
    close_stepper(pipe)
    got = _compare(tmp_path, fmt)
    assert rebuilt._plan is not None  # rebuilt to the end
    # the Rate flow keeps sampling the scalars the source left out on every third step
    rate_in = got[("rate", "in")]
    assert len(rate_in) == 12
    assert rate_in[1][2] == {"value": 1.25, "count": 5, "label": "n5"}  # k=6: none sent
    assert got[("tick", "in")] == []  # a Tick flow samples nothing
    # the hybrid flow samples trig's output of the same step and src's count
    [(step, _, first), *_] = got[("hybrid", "in")]
    assert step == 0 and first == {"value": got[("trig", "out")][0][2]["value"], "count": 5}


def test_pipe_record_rebuilds_and_reads_back_like_inline(tmp_path: Path) -> None:
    pipe = build()
    pipe.record(tmp_path / "rebuilt.mcap", steps=9, dt=0.1)
    pipe = build()
    pipe.record(RecordConfig(path=tmp_path / "inline.mcap", writer="inline"), steps=9,
                dt=0.1)
    got = _compare(tmp_path)
    assert len(got[("trig", "in")]) == 6  # triggered on the steps that carried a value


def test_time_going_backwards_sends_every_input_from_then_on(tmp_path: Path) -> None:
    # at t=0.05 the newest messages (t=0.1, 0.2) are in the future: Latest skips them,
    # which rebuilding from the newest delivered value would not
    pipe = build()
    stepper = stepper_for(pipe)
    rebuilt, inline = _both(stepper, tmp_path)
    for now in (0.0, 0.1, 0.2, 0.05, 0.3, 0.4):
        stepper.step(now=now)
    assert rebuilt._plan is None
    rebuilt.close()
    inline.close()
    close_stepper(pipe)
    got = _compare(tmp_path)
    assert len(got[("rate", "in")]) == 6


def test_a_replay_added_while_recording_sends_every_input(tmp_path: Path) -> None:
    pipe = build()
    stepper = stepper_for(pipe)
    rebuilt, inline = _both(stepper, tmp_path)
    for _ in range(3):
        stepper.step(dt=0.1)

    def recorded(now: float, index: int) -> dict[str, Any]:
        return {"value": 100.0 + index, "count": index, "label": "replayed",
                "frame": np.zeros(3, np.uint8)}

    stepper.replay["src"] = recorded
    for _ in range(3):
        stepper.step(dt=0.1)
    assert rebuilt._plan is None
    rebuilt.close()
    inline.close()
    close_stepper(pipe)
    got = _compare(tmp_path)
    assert got[("rate", "in")][-1][2]["label"] == "replayed"
    assert len(got[("src", "out")]) == 6


def test_only_immutable_scalars_are_rebuilt() -> None:
    assert all(immutable_scalar(t) for t in (int, float, bool, str, float | None,
                                             int | str | None))
    assert not any(immutable_scalar(t) for t in (list[float], np.ndarray, Any, bytes,
                                                 Reading, None))
