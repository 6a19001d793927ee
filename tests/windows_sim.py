"""What the simulated-Windows test runs (``tests/test_rendezvous.py``): real pipelines
over the loopback transport in a process, and its workers, from which what Windows
lacks was removed first.

``sitecustomize`` (:data:`SITE`, first on ``PYTHONPATH``) runs at interpreter start,
before anything imports retriever, in the script and in every worker it starts. It
removes Unix sockets (``AF_UNIX``, ``SOCK_SEQPACKET``), descriptor passing
(``send_fds``/``recv_fds``, ``SCM_RIGHTS``, ``sendmsg``/``recvmsg``, ``CMSG_*``, the
stdlib's ``spawnv_passfds``), ``fork``, ``memfd``, ``epoll``/``poll``/``kqueue``,
``fcntl``/``termios``, ``MADV_HUGEPAGE`` and ``prctl``; ``socket.socketpair`` becomes a
TCP loopback pair (what Windows' is); and ``select.select`` refuses anything that is not
a socket (Windows' select takes only sockets). It also records which descriptors the
process had when it started (beyond stdio): none may have been inherited.

Not simulated (Linux cannot): Windows' process creation, its named mappings (the
POSIX shared memory by name of portable mode stands in, with its unlink-on-open), and
``TerminateProcess`` (``Popen.kill`` sends SIGKILL here).
"""

from __future__ import annotations

import json
import os
import select
import selectors
import signal
import socket
import sys
import time
from typing import Any

from retriever.contract.errors import FlowError
from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger
from retriever.rt.backends.multiprocessing.start import resolve
from retriever.rt.transport import backing, wait
from tests import mp_flows as F
from tests.macos_sim import NO_PRCTL, FrameCheck, Pos, Vel, run_chain, run_fan_in

SITE = '''
import ctypes, mmap, os, select, socket, stat, sys

def _inherited():
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if fd > 2 and not target.startswith("/proc/"):
            out.append(target)
    return out

INHERITED = _inherited()

_real_socket = socket.socket
_listen_family = socket.AF_INET

def _tcp_pair(family=None, type=socket.SOCK_STREAM, proto=0):
    with _real_socket(_listen_family, type, proto) as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        a = _real_socket(_listen_family, type, proto)
        a.connect(lst.getsockname())
        b, _ = lst.accept()
    return a, b

socket.socketpair = _tcp_pair

class _Gone:
    def __set_name__(self, owner, name):
        self.name = name
    def __get__(self, obj, typ=None):
        raise AttributeError(self.name)

for _n in ("sendmsg", "recvmsg", "recvmsg_into"):
    setattr(socket.socket, _n, _Gone())

for _mod, _names in (
        (socket, ["AF_UNIX", "SOCK_SEQPACKET", "send_fds", "recv_fds", "SCM_RIGHTS",
                  "CMSG_LEN", "CMSG_SPACE"]),
        (os, ["fork", "forkpty"] + [n for n in dir(os) if n.startswith(("memfd", "MFD_"))]),
        (select, [n for n in dir(select)
                  if n.lower().startswith(("epoll", "poll", "devpoll", "kqueue", "kevent"))]),
        (mmap, ["MADV_HUGEPAGE"])):
    for _n in _names:
        if hasattr(_mod, _n):
            delattr(_mod, _n)


_real_select = select.select

def _sockets_only(*lists):
    for objs in lists:
        for obj in objs:
            fd = obj if isinstance(obj, int) else obj.fileno()
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise OSError(10038, f"select() on a non-socket ({obj!r}): not on Windows")

def _select(r, w, x, *timeout):
    _sockets_only(r, w, x)
    return _real_select(r, w, x, *timeout)

select.select = _select

# socket imported selectors before any of this: make it look as it does on Windows
import selectors
for _n in ("PollSelector", "EpollSelector", "DevpollSelector", "KqueueSelector"):
    if hasattr(selectors, _n):
        delattr(selectors, _n)
selectors.DefaultSelector = selectors.SelectSelector
selectors.SelectSelector._select = staticmethod(_select)

import multiprocessing.util
del multiprocessing.util.spawnv_passfds
sys.modules["fcntl"] = None
sys.modules["termios"] = None
''' + NO_PRCTL


def visible() -> dict[str, Any]:
    """What this process can see of the services Windows lacks (all False when
    simulated), and which descriptors it inherited (none)."""
    site = sys.modules.get("sitecustomize")
    try:
        import fcntl  # noqa: F401
        has_fcntl = True
    except ImportError:
        has_fcntl = False
    r, w = os.pipe()  # (a pipe only to prove that waiting on one fails here)
    try:
        with selectors.SelectSelector() as sel:  # what the worker's waiter is
            sel.register(r, selectors.EVENT_READ)
            sel.select(0)
        pipes_waitable = True
    except OSError:
        pipes_waitable = False
    finally:
        os.close(r)
        os.close(w)
    return {"pipes_waitable": pipes_waitable,
            "selector": type(wait._portable_selector()).__name__,
            "AF_UNIX": hasattr(socket, "AF_UNIX"), "send_fds": hasattr(socket, "send_fds"),
            "sendmsg": hasattr(socket.socket, "sendmsg"), "fork": hasattr(os, "fork"),
            "memfd_create": hasattr(os, "memfd_create"), "epoll": hasattr(select, "epoll"),
            "poll": hasattr(select, "poll"), "fcntl": has_fcntl,
            "inherited": getattr(site, "INHERITED", None),
            "token_env": "RETRIEVER_MP_TOKEN" in os.environ}


class FanIn(F._Log, Flow[tuple[Pos, Vel], None]):
    """Logs both inputs and what this worker can see."""

    def __lazy_init__(self) -> None:
        super().__lazy_init__()
        self.seen = visible()  # before the flow opens anything itself

    def step(self, inp: Any) -> None:
        self.write(x=inp.Pos.x, v=inp.Vel.v, me=os.getpid(), seen=self.seen)


def main(tmp: str) -> dict[str, Any]:
    """Run the pipelines; returns what to check."""
    out: dict[str, Any] = {"parent": visible()}
    opts = resolve()
    out["options"] = [opts.method, opts.portable, opts.loopback, opts.framed, opts.shm,
                      opts.waiter]
    out["chain"], pids = run_chain(tmp)
    rows, error = run_fan_in(tmp, FanIn(f"{tmp}/fanin.log"))
    out["fanin"] = {"rows": rows, "error": error}
    pids |= {r["me"] for r in rows}

    # 640x480 frames through shared memory, then the consumer killed: the run fails
    # with a FlowError naming the signal (restarts are refused in this transport)
    with Pipeline("frames") as pipe:
        cam = (F.FrameSource(480, 640) @ Rate(hz=60)).named("cam")
        chk = (FrameCheck(f"{tmp}/frames.log") @ Trigger("image", "index", "stamp")
               ).named("chk")
        pipe.connect(cam, chk, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    pids |= set(handle.pids.values())  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while len(F.read_log(f"{tmp}/frames.log")[0]) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(handle.pids["chk"], signal.SIGKILL)  # type: ignore[attr-defined]
    try:
        handle.wait(30)
        out["killed_error"] = None
    except FlowError as exc:
        out["killed_error"] = str(exc)
    rows, _ = F.read_log(f"{tmp}/frames.log")
    out["frames"] = [[r["i"], r["ok"], r["shape"]] for r in rows]

    # restarts: a killed source, then a killed consumer of frames, each restarted
    out["restart_source"], pids_r = run_restart(tmp, "a")
    pids |= pids_r
    out["restart_sink"], pids_r = run_restart(tmp, "chk")
    pids |= pids_r

    out["shm_kind"] = backing.kind()
    out["pids"] = sorted(p for p in pids if isinstance(p, int))
    out["children"] = _children()
    return out


def _wait_for(cond: Any, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)


def run_restart(tmp: str, victim: str) -> tuple[dict[str, Any], set[int]]:
    """Kill ``victim`` (source ``a`` of numbers, or consumer ``chk`` of frames) under
    restart policy on-failure; returns what each side logged and the run's report."""
    log = f"{tmp}/restart-{victim}.log"
    with Pipeline("restart") as pipe:
        if victim == "a":
            src = (F.Counter() @ Rate(hz=50)).named("a")
            dst = (F.NumLog(log) @ Trigger("value", "pid")).named("chk")
        else:
            src = (F.FrameSource(480, 640) @ Rate(hz=50)).named("a")
            dst = (FrameCheck(log) @ Trigger("image", "index", "stamp")).named("chk")
        (src if victim == "a" else dst).restart_policy("on-failure", max_restarts=2)
        pipe.connect(src, dst, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    pids: set[int] = set(handle.pids.values())  # type: ignore[attr-defined]
    key = "src" if victim == "a" else "me"
    _wait_for(lambda: len(F.read_log(log)[0]) >= 5)
    first = handle.pids[victim]  # type: ignore[attr-defined]
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: not handle.running or sum(
        1 for r in F.read_log(log)[0] if r.get(key) not in (None, first)) >= 5)
    pids |= set(handle.pids.values())  # type: ignore[attr-defined]
    report = handle.stop()
    rows, finals = F.read_log(log)
    return {"error": None if report.error is None else str(report.error),
            "restarts": {f: s.restarts for f, s in report.flows.items()},
            "first": first, "rows": rows, "finals": len(finals)}, pids


def _children() -> list[int]:
    """Processes whose parent is this one (none may be left)."""
    me = os.getpid()
    kids: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == me:
            kids.append(int(name))
    return kids


def orphan_main(tmp: str) -> None:
    """Start a chain, print its workers' pids once values flow, then die by SIGKILL:
    the workers must notice (their watch connections end) and stop by themselves."""
    with Pipeline("orphan") as pipe:
        src = (F.Counter() @ Rate(hz=100)).named("src")
        sink = (F.NumLog(f"{tmp}/orphan.log") @ Trigger("value")).named("sink")
        pipe.connect(src, sink, sync=Latest())
    handle = pipe.run(backend="multiprocessing", blocking=False)
    deadline = time.monotonic() + 20
    while len(F.read_log(f"{tmp}/orphan.log")[0]) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    print(json.dumps(sorted(handle.pids.values())), flush=True)  # type: ignore[attr-defined]
    os.kill(os.getpid(), signal.SIGKILL)


#: The command the test runs (flows resolve as ``tests.windows_sim:...``).
COMMAND = ("import json, sys; from tests.windows_sim import main; "
           "print(json.dumps(main(sys.argv[1])))")
ORPHAN = "import sys; from tests.windows_sim import orphan_main; orphan_main(sys.argv[1])"
