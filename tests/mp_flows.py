"""Module-level flows for the multiprocessing backend tests (importable by name).

Workers cannot hand Python objects back to the test, so sinks append one JSON line per
step to a file named by their constructor argument, and ``finalize`` appends a
``{"final": pid}`` line.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from retriever.flow import Flow, io


@io
class Num:
    value: int
    pid: int
    stamp: float


@io
class Pair:
    a: int
    b: int


@io
class Frame:
    image: np.ndarray
    index: int
    stamp: float


@io
class Small:
    value: int


@io
class Big:
    frame: np.ndarray


class _Log:
    """Appends JSON lines to a file (opened in __lazy_init__, closed in finalize)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __lazy_init__(self) -> None:
        self._fh = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in finalize

    def write(self, **row: Any) -> None:
        self._fh.write(json.dumps(row) + "\n")

    def finalize(self) -> None:
        self.write(final=os.getpid())
        self._fh.close()


def read_log(path: str | Path) -> tuple[list[dict[str, Any]], list[int]]:
    """(rows, pids of finalize markers) of a sink's log file."""
    rows: list[dict[str, Any]] = []
    finals: list[int] = []
    p = Path(path)
    if not p.exists():
        return rows, finals
    for line in p.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "final" in row:
            finals.append(row["final"])
        else:
            rows.append(row)
    return rows, finals


# ---------------------------------------------------------------------- sources

class Counter(Flow[None, Num]):
    """Publishes 1, 2, 3, ... with its pid and a perf_counter stamp."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        self.n += 1
        return Num(value=self.n, pid=os.getpid(), stamp=time.perf_counter())


class PairSource(Flow[None, Pair]):
    """Publishes (a=i, b=i)."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Pair:
        self.n += 1
        return Pair(a=self.n, b=self.n)


class FrameSource(Flow[None, Frame]):
    """Publishes frames whose every byte equals ``index % 251`` (sizes from args)."""

    def __init__(self, height: int = 64, width: int = 64, fill: bool = True) -> None:
        self.shape = (height, width, 3)
        self.fill = fill

    def reset(self) -> None:
        self.n = 0
        self.frame = np.zeros(self.shape, dtype=np.uint8)

    def step(self, _: None) -> Frame:
        self.n += 1
        if self.fill:
            self.frame.fill(self.n % 251)
        return Frame(image=self.frame, index=self.n, stamp=time.perf_counter())


class Crasher(Flow[None, Num]):
    """Publishes like Counter; at ``at`` kills itself with ``sig`` (once per marker)."""

    def __init__(self, at: int, marker: str, sig: int = int(signal.SIGKILL),
                 times: int = 1) -> None:
        self.at = at
        self.marker = marker
        self.sig = sig
        self.times = times

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        self.n += 1
        if self.n == self.at:
            done = Path(self.marker).read_text().count("x") if Path(self.marker).exists() else 0
            if done < self.times:
                with open(self.marker, "a") as fh:
                    fh.write("x")
                os.kill(os.getpid(), self.sig)
        return Num(value=self.n, pid=os.getpid(), stamp=time.perf_counter())


class Raiser(Flow[None, Num]):
    """Raises ValueError at step ``at`` (always, or only ``times`` times per marker)."""

    def __init__(self, at: int, marker: str = "", times: int = 1000) -> None:
        self.at = at
        self.marker = marker
        self.times = times

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Num:
        self.n += 1
        if self.n == self.at:
            done = 0
            if self.marker:
                p = Path(self.marker)
                done = p.read_text().count("x") if p.exists() else 0
                with open(p, "a") as fh:
                    fh.write("x")
            if done < self.times:
                raise ValueError(f"raiser failed at step {self.n}")
        return Num(value=self.n, pid=os.getpid(), stamp=time.perf_counter())


# ---------------------------------------------------------------------- transforms

class Relay(Flow[Num, Num]):
    """Passes the number on, replacing the pid with its own."""

    def step(self, inp: Num) -> Num:
        return Num(value=inp.value, pid=os.getpid(), stamp=inp.stamp)


# ---------------------------------------------------------------------- sinks

class NumLog(_Log, Flow[Num, None]):
    """Logs value, source pid, own pid, latency and an optional per-step delay."""

    def __init__(self, path: str, delay: float = 0.0) -> None:
        super().__init__(path)
        self.delay = delay

    def step(self, inp: Num) -> None:
        now = time.perf_counter()
        if inp.value is not None:
            self.write(v=inp.value, src=inp.pid, me=os.getpid(),
                       lat=now - inp.stamp if inp.stamp is not None else None)
        if self.delay:
            time.sleep(self.delay)


class CpuNumLog(NumLog):
    """A NumLog that also logs its process's CPU time when finalized."""

    def finalize(self) -> None:
        self.write(cpu=time.process_time(), me=os.getpid())
        super().finalize()


class PolicyLog(NumLog):
    """A NumLog that also logs its process's scheduling policy when finalized
    (``os.sched_getscheduler``; -1 where the platform has none)."""

    def finalize(self) -> None:
        get = getattr(os, "sched_getscheduler", None)
        policy = get(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) if get else -1
        self.write(policy=policy, me=os.getpid())
        super().finalize()


class TickLog(_Log, Flow[None, None]):
    """A Tick/Rate sink without inputs: logs its pid and the time of each step."""

    def step(self, _: None) -> None:
        self.write(t=time.monotonic(), me=os.getpid())


class SlowTick(_Log, Flow[None, None]):
    """Sleeps ``delay`` every step (to make its clock lag)."""

    def __init__(self, path: str, delay: float) -> None:
        super().__init__(path)
        self.delay = delay

    def step(self, _: None) -> None:
        self.write(t=time.monotonic())
        time.sleep(self.delay)


class PairLog(_Log, Flow[Pair, None]):
    """Logs both fields of every pair it sees."""

    def step(self, inp: Pair) -> None:
        self.write(a=inp.a, b=inp.b)


class FrameLog(_Log, Flow[Frame, None]):
    """Checks that a frame is intact and logs its index and latency."""

    def step(self, inp: Frame) -> None:
        now = time.perf_counter()
        img = inp.image
        if img is None or inp.index is None:
            return
        ok = bool(img.flat[0] == inp.index % 251 and img.flat[-1] == inp.index % 251
                  and img.min() == img.max())
        self.write(i=inp.index, ok=ok, shape=list(img.shape), lat=now - inp.stamp)


class WindowLog(_Log, Flow[Num, None]):
    """Logs what a Window/Hold adapter delivered (the raw value)."""

    def step(self, inp: Num) -> None:
        self.write(v=inp.value)


@io
class NumEvents:
    """What an ``Events`` adapter hands to step: ``(stamp, value)`` pairs per port."""

    value: list[tuple[float, int]]
    pid: int
    stamp: float


class EventsLog(_Log, Flow[NumEvents, None]):
    """Logs the values of the events an Events adapter delivered, in order."""

    def step(self, inp: NumEvents) -> None:
        self.write(v=[x[1] for x in inp.value] if inp.value is not None else None)


# ---------------------------------------------------------------------- composite

@io
class Pos:
    x: float


@io
class Vel:
    v: float


@io
class Total:
    total: float


class Motion(Flow[None, tuple[Pos, Vel]]):
    """A composite output: position k and velocity k / 2 from one step."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> tuple[Pos, Vel]:
        self.k += 1
        return Pos(x=float(self.k)), Vel(v=0.5 * self.k)


class Fuse(Flow[tuple[Pos, Vel], Total]):
    """A composite input: position + velocity (3k/2 when both come from one step)."""

    def step(self, inp: Any) -> Total:
        return Total(total=inp.Pos.x + inp.Vel.v)


class TotalLog(_Log, Flow[Total, None]):
    """Logs every total."""

    def step(self, inp: Total) -> None:
        self.write(total=inp.total)
