"""Module-level flows and pipelines for the dora backend tests and benchmarks.

dora nodes are separate processes, so sinks write what they saw to a JSON file named by
their constructor argument when they are finalized (and a line per step when asked).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from retriever.flow import EdgeConfig, Flow, Latest, Pipeline, Rate, Tick, Trigger, io


@io
class Count:
    n: int
    stamp: float


@io
class Pos:
    x: float


@io
class Vel:
    v: float


@io
class Summary:
    total: float
    k: int


@io
class Frame:
    image: np.ndarray
    n: int
    stamp: float


def _zenoh_overlay() -> Any:
    """The zenoh config overlay this node was started with (None: none)."""
    path = os.environ.get("DORA_ZENOH_CONFIG_OVERLAY")
    return json.loads(Path(path).read_text()) if path else None


def _where() -> dict[str, Any]:
    return {"pid": os.getpid(), "ppid": os.getppid(),
            "machine": os.environ.get("DORA_MACHINE_ID"), "zenoh_overlay": _zenoh_overlay()}


class Counter(Flow[None, Count]):
    """Publishes 0, 1, 2, ... with the wall-clock time of the step."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> Count:
        out = Count(n=self.k, stamp=time.time())
        self.k += 1
        return out


class Recorder(Flow[Count, None]):
    """Records every ``n`` it sees; writes them (and where it ran) on finalize."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.seen: list[int] = []
        self.latency: list[float] = []
        self.first_at: float | None = None

    def step(self, inp: Count) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        if inp.n is not None:
            self.seen.append(inp.n)
            self.latency.append(time.time() - inp.stamp)

    def finalize(self) -> None:
        Path(self.path).write_text(json.dumps({"seen": self.seen, "latency": self.latency,
                                               "first_at": self.first_at, **_where()}))


class Motion(Flow[None, tuple[Pos, Vel]]):
    """A composite output: position and velocity from one step."""

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> tuple[Pos, Vel]:
        self.k += 1
        return Pos(x=float(self.k)), Vel(v=0.5 * self.k)


class Fuse(Flow[tuple[Pos, Vel], Summary]):
    """A composite input: adds position and velocity."""

    def reset(self) -> None:
        self.k = 0

    def step(self, inp: Any) -> Summary:
        self.k += 1
        return Summary(total=inp.Pos.x + inp.Vel.v, k=self.k)


class SummaryLog(Flow[Summary, None]):
    """Records every summary total."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.totals: list[float] = []

    def step(self, inp: Summary) -> None:
        self.totals.append(inp.total)

    def finalize(self) -> None:
        Path(self.path).write_text(json.dumps({"totals": self.totals, **_where()}))


class Camera(Flow[None, Frame]):
    """Publishes frames whose pixels encode the frame number."""

    def __init__(self, shape: list[int]) -> None:
        self.shape = tuple(shape)

    def reset(self) -> None:
        self.k = 0
        self.buf = np.zeros(self.shape, dtype=np.uint8)

    def step(self, _: None) -> Frame:
        self.buf.fill(self.k % 251)
        out = Frame(image=self.buf, n=self.k, stamp=time.time())
        self.k += 1
        return out


class LoanCamera(Camera):
    """Like :class:`Camera`, but fills a loaned array (``Flow.loan``) each step: on
    dora that array is dora's own shared-memory sample, sent without a copy."""

    def step(self, _: None) -> Frame:
        img = self.loan("image", self.shape, np.uint8)
        img.fill(self.k % 251)
        out = Frame(image=img, n=self.k, stamp=time.time())
        self.k += 1
        return out


class FrameCheck(Flow[Frame, None]):
    """Checks each frame's content against its number; records latencies."""

    def __init__(self, path: str) -> None:
        self.path = path

    def reset(self) -> None:
        self.seen: list[int] = []
        self.bad = 0
        self.latency: list[float] = []
        self.first_at: float | None = None

    def step(self, inp: Frame) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        self.latency.append(time.time() - inp.stamp)
        self.seen.append(inp.n)
        img = inp.image
        if int(img[0, 0, 0]) != inp.n % 251 or int(img[-1, -1, -1]) != inp.n % 251:
            self.bad += 1

    def finalize(self) -> None:
        Path(self.path).write_text(json.dumps({"seen": self.seen, "bad": self.bad,
                                               "latency": self.latency,
                                               "first_at": self.first_at, **_where()}))


class Sleepy(Flow[None, None]):
    """Sleeps ``delay`` seconds in each of its first ``slow_steps`` steps."""

    def __init__(self, delay: float, slow_steps: int = 1_000_000) -> None:
        self.delay = delay
        self.slow_steps = slow_steps

    def reset(self) -> None:
        self.k = 0

    def step(self, _: None) -> None:
        self.k += 1
        if self.k <= self.slow_steps:
            time.sleep(self.delay)


class Explode(Flow[Count, None]):
    """Raises on the third message it sees (or exits the process hard)."""

    def __init__(self, hard: bool = False) -> None:
        self.hard = hard

    def reset(self) -> None:
        self.k = 0

    def step(self, inp: Count) -> None:
        self.k += 1
        if self.k == 3:
            if self.hard:
                os._exit(9)
            raise ValueError("kaboom at the third message")


# ------------------------------------------------------------------------ pipelines

def basic(out: str = "/tmp/retriever-dora-basic.json", hz: float = 20.0,
          machines: tuple[str | None, str | None] = (None, None)) -> Pipeline:
    """Rate source -> Trigger sink."""
    pipe = Pipeline("dora-basic")
    src = (Counter() @ Rate(hz=hz)).named("counter")
    snk = (Recorder(out) @ Trigger("n", "stamp")).named("recorder")
    if machines[0]:
        src.deploy(machine=machines[0])
    if machines[1]:
        snk.deploy(machine=machines[1])
    pipe.connect(src, snk, sync=Latest())
    return pipe


def composite(out: str) -> Pipeline:
    """Composite output -> composite input (Trigger) -> sink."""
    pipe = Pipeline("dora-composite")
    motion = (Motion() @ Rate(hz=20)).named("motion")
    fuse = (Fuse() @ Trigger("x", "v")).named("fuse")
    log = (SummaryLog(out) @ Trigger("total")).named("log")
    pipe.connect(motion, fuse, sync=Latest())
    pipe.connect(fuse, log, sync=Latest())
    return pipe


def frames(out: str, hz: float = 30.0, shape: tuple[int, ...] = (1080, 1920, 3),
           qsize: int | None = None, loan: bool = False) -> Pipeline:
    """Large numpy frames from a Rate source to a Trigger sink (``loan``: the source
    fills loaned arrays)."""
    pipe = Pipeline("dora-frames")
    cam = ((LoanCamera if loan else Camera)(list(shape)) @ Rate(hz=hz)).named("camera")
    chk = (FrameCheck(out) @ Trigger("image", "n", "stamp")).named("check")
    pipe.connect(cam, chk, sync=Latest(),
                 edge_config=EdgeConfig(qsize=qsize) if qsize else None)
    return pipe


def lagging(on_lag: str, delay: float = 0.06, hz: float = 50.0,
            slow_steps: int = 1_000_000, tick: bool = False) -> Pipeline:
    """One slow periodic flow."""
    pipe = Pipeline("dora-lag")
    clock = Tick(hz=hz, on_lag=on_lag) if tick else Rate(hz=hz, on_lag=on_lag)
    pipe.add((Sleepy(delay, slow_steps) @ clock).named("sleepy"))
    return pipe


def failing(hard: bool = False) -> Pipeline:
    """A source feeding a flow that fails on its third message."""
    pipe = Pipeline("dora-failing")
    src = (Counter() @ Rate(hz=20)).named("counter")
    bad = (Explode(hard) @ Trigger("n")).named("exploder")
    pipe.connect(src, bad, sync=Latest())
    return pipe


def export_me() -> Pipeline:
    """A factory for ``retriever dora export tests/dora_flows.py:export_me``."""
    return basic("/tmp/retriever-dora-export.json")


# ------------------------------------------------------------------------ test support
# (kept free of pytest so that node processes importing this module stay light)

def dora_installed() -> bool:
    """Whether dora-rs, dora-rs-cli and pyarrow are installed (versions are not judged
    here: a mismatch must fail the tests, not skip them)."""
    from retriever.contract.errors import MissingDependencyError
    from retriever.rt.backends.dora.compat import check_install

    try:
        check_install()
    except MissingDependencyError:
        return False
    return True


def owner_of(pid: int) -> str:
    """The owner tag every process of a run started by ``pid`` carries."""
    return f"{socket.gethostname()}:{pid}"


def cmdlines_mentioning(text: str) -> list[tuple[int, str]]:
    """Processes whose command line contains ``text`` (a /proc scan, no psutil)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in cmd:
            found.append((int(entry.name), cmd))
    return found


def assert_clean(handle: Any) -> None:
    """Nothing of the run is left: no process with its token or path, no temp dir."""
    from retriever.rt.backends.dora.compile import ENV_RUN
    from retriever.rt.backends.dora.launch import processes_with_token

    assert not handle.running
    assert processes_with_token(ENV_RUN, handle.token) == []
    assert cmdlines_mentioning(str(handle.tmp)) == []
    assert not Path(handle.tmp).exists()
    assert handle.leftover == [], f"the final sweep had to kill {handle.leftover}"


def processes_owned_by(pid: int) -> list[int]:
    """Processes carrying the owner tag of runs started by ``pid``."""
    from retriever.rt.backends.dora.compile import ENV_OWNER
    from retriever.rt.backends.dora.launch import processes_with_token

    return processes_with_token(ENV_OWNER, owner_of(pid))
