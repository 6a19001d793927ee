"""What the simulated-macOS test runs (``tests/test_framing.py``): real pipelines in a
process, and its spawned workers, from which Linux's own services were removed first.

``sitecustomize`` (:data:`SITE`, put first on ``PYTHONPATH``) deletes them at interpreter
start, before anything imports retriever, in the script and in every worker it spawns.
The script prints one JSON object with what each pipeline delivered.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from typing import Any

import numpy as np

from retriever.contract.errors import FlowError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.start import resolve
from retriever.rt.transport import backing, wait
from tests import mp_flows as F
from tests.mp_flows import Pos, Vel

#: sitecustomize lines that hide ``prctl`` from ctypes (shared with windows_sim).
NO_PRCTL = '''
class _NoPrctl(ctypes.CDLL):
    def __getattr__(self, name):
        if name == "prctl":
            raise AttributeError(name)
        return super().__getattr__(name)

ctypes.CDLL = _NoPrctl
'''

#: Removes what macOS lacks: Unix SOCK_SEQPACKET, descriptor passing helpers, memfd,
#: epoll, MADV_HUGEPAGE and prctl (no PR_SET_PDEATHSIG, no timer slack).
SITE = '''
import ctypes, mmap, os, select, socket
for _mod, _names in ((socket, ["SOCK_SEQPACKET", "send_fds", "recv_fds"]),
                     (os, [n for n in dir(os) if n.startswith(("memfd", "MFD_"))]),
                     (select, [n for n in dir(select) if n.lower().startswith("epoll")]),
                     (mmap, ["MADV_HUGEPAGE"])):
    for _n in _names:
        if hasattr(_mod, _n):
            delattr(_mod, _n)
''' + NO_PRCTL


def absent() -> dict[str, bool]:
    """Which Linux-only services this process can see (all False when simulated)."""
    return {"SOCK_SEQPACKET": hasattr(socket, "SOCK_SEQPACKET"),
            "send_fds": hasattr(socket, "send_fds"),
            "memfd_create": hasattr(os, "memfd_create"),
            "epoll": hasattr(select, "epoll")}


class PosSource(Flow[None, Pos]):
    """1, 2, 3, ..."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Pos:
        self.n += 1
        return Pos(x=float(self.n))


class VelSource(Flow[None, Vel]):
    """0.5, 1.0, 1.5, ..."""

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> Vel:
        self.n += 1
        return Vel(v=0.5 * self.n)


class FrameCheck(F._Log, Flow[F.Frame, None]):
    """Checks that each frame is intact; logs its index, shape and this worker's pid."""

    def step(self, inp: F.Frame) -> None:
        img = inp.image
        ok = bool(img.min() == img.max() == inp.index % 251)
        self.write(i=inp.index, ok=ok, shape=list(img.shape), me=os.getpid())


class GrowThenDie(Flow[None, F.Frame]):
    """Sends small frames, then one large frame (a new ring, announced by name while
    the slow consumer is busy), then kills itself with SIGKILL before the consumer could
    open the new ring."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def reset(self) -> None:
        self.n = 0

    def step(self, _: None) -> F.Frame:
        self.n += 1
        if self.n == 4:
            with open(self.marker, "w") as fh:  # the name now in /dev/shm
                fh.write(json.dumps(sorted(n for n in os.listdir("/dev/shm")
                                           if n.startswith(f"retriever-{os.getpid():x}-"))))
            os.kill(os.getpid(), signal.SIGKILL)
        side = 600 if self.n == 3 else 40
        image = np.full((side, side, 3), self.n % 251, dtype=np.uint8)
        return F.Frame(image=image, index=self.n, stamp=time.perf_counter())


class SlowCheck(FrameCheck):
    """A FrameCheck that takes its time over every frame."""

    def step(self, inp: F.Frame) -> None:
        super().step(inp)
        time.sleep(3.0)  # longer than stop_timeout: it is killed before reading on


class FanIn(F._Log, Flow[tuple[Pos, Vel], None]):
    """Logs both inputs and what this worker can see of Linux's services."""

    def step(self, inp: Any) -> None:
        self.write(x=inp.Pos.x, v=inp.Vel.v, me=os.getpid(), up=os.getppid(),
                   linux=absent(), waiter=wait.default_kind(False), shm=backing.kind())


def _await_rows(path: str, more: int, timeout: float = 20.0) -> None:
    """Wait until ``path`` has ``more`` rows more than now."""
    start = len(F.read_log(path)[0])
    deadline = time.monotonic() + timeout
    while len(F.read_log(path)[0]) < start + more and time.monotonic() < deadline:
        time.sleep(0.02)


def run_chain(tmp: str) -> tuple[dict[str, Any], set[int]]:
    """A chain over three processes: what its sink saw, and the processes involved."""
    with Pipeline("chain") as pipe:
        src = (F.Counter() @ Rate(hz=100)).named("src")
        relay = (F.Relay() @ Trigger("value")).named("relay")
        sink = (F.NumLog(f"{tmp}/chain.log") @ Trigger("value")).named("sink")
        pipe.connect(src, relay, sync=Latest())
        pipe.connect(relay, sink, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.4)
    rows, finals = F.read_log(f"{tmp}/chain.log")
    seen = {"values": [r["v"] for r in rows], "finals": len(finals),
            "error": repr(report.error) if report.error else None}
    return seen, {r["src"] for r in rows} | {r["me"] for r in rows}


def run_fan_in(tmp: str, consumer: Flow[tuple[Pos, Vel], None]
               ) -> tuple[list[dict[str, Any]], str | None]:
    """Two producer processes into ``consumer`` (which logs to ``fanin.log``): its
    rows, and the run's error."""
    with Pipeline("fanin") as pipe:
        pos = (PosSource() @ Rate(hz=50)).named("pos")
        vel = (VelSource() @ Rate(hz=50)).named("vel")
        fan = (consumer @ Trigger("x", "v")).named("fan")
        pipe.connect(pos, fan, sync=Latest())
        pipe.connect(vel, fan, sync=Latest())
    report = pipe.run(backend="multiprocessing", duration=0.4)
    rows, _ = F.read_log(f"{tmp}/fanin.log")
    return rows, repr(report.error) if report.error else None


def main(tmp: str) -> dict[str, Any]:
    """Run the pipelines; returns what to check."""
    out: dict[str, Any] = {"parent": absent(), "script": os.getpid()}
    opts = resolve()
    out["options"] = [opts.method, opts.portable, opts.framed, opts.shm, opts.waiter]
    out["chain"], pids = run_chain(tmp)
    rows, _ = run_fan_in(tmp, FanIn(f"{tmp}/fanin.log"))
    out["fanin"] = rows
    pids |= {r["me"] for r in rows}

    # 640x480 frames through shared memory; the consumer, then the producer, killed
    # with SIGKILL and restarted
    with Pipeline("frames") as pipe:
        cam = (F.FrameSource(480, 640) @ Rate(hz=60)).named("cam").restart_policy(
            "on-failure", max_restarts=2, window=30)
        chk = (FrameCheck(f"{tmp}/frames.log") @ Trigger("image", "index", "stamp")
               ).named("chk").restart_policy("on-failure", max_restarts=2, window=30)
        pipe.connect(cam, chk, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    log = f"{tmp}/frames.log"
    for victim in ("chk", "cam", None):  # each incarnation delivers frames first
        pid = handle.pids[victim or "chk"]  # type: ignore[attr-defined]
        pids |= set(handle.pids.values())  # type: ignore[attr-defined]
        _await_rows(log, 5)
        if victim is not None:
            os.kill(pid, signal.SIGKILL)
    report = handle.stop()
    rows, _ = F.read_log(f"{tmp}/frames.log")
    out["frames"] = {"rows": [[r["i"], r["ok"], r["shape"], r["me"]] for r in rows],
                     "restarts": [report.flows["chk"].restarts, report.flows["cam"].restarts],
                     "error": repr(report.error) if report.error else None}

    # a producer killed while a ring it named is still unopened, and its consumer killed
    # before it opened it: with /dev/shm not listed (as on macOS, where it cannot be),
    # the names the producer reported as it made them are removed by the parent
    backing.SHM_DIR = os.path.join(tmp, "no-shm-listing")
    with Pipeline("orphan") as pipe:
        grow = (GrowThenDie(f"{tmp}/orphan.json") @ Rate(hz=50)).named("grow")
        slow = (SlowCheck(f"{tmp}/orphan.log") @ Trigger("image", "index", "stamp")
                ).named("slow")
        pipe.connect(grow, slow, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False, stop_timeout=0.3)
    pids |= set(handle.pids.values())  # type: ignore[attr-defined]
    try:
        handle.wait(30)
    except FlowError as exc:  # the producer died: expected
        out["orphan_error"] = str(exc)
    with open(f"{tmp}/orphan.json") as fh:
        out["orphan_named"] = json.load(fh)
    out["orphan_left"] = sorted(n for n in os.listdir("/dev/shm")
                                if n in out["orphan_named"])

    out["pids"] = sorted(p for p in pids if isinstance(p, int))
    return out


#: The command the test runs (flows resolve as ``tests.macos_sim:...``, importable names).
COMMAND = "import json, sys; from tests.macos_sim import main; print(json.dumps(main(sys.argv[1])))"
