"""Starting workers that inherit no descriptor: the loopback transport (Windows; forced
on Linux with ``RETRIEVER_MP_TRANSPORT=loopback``).

Parent side (:func:`start_all`): listen on ``127.0.0.1`` (:class:`Rendezvous`), start
every worker with :mod:`subprocess` (the port and the partition on its command line,
the token in its environment), accept each worker's control and watch connections,
send the boot message, collect the port each consumer listens on and tell every
producer where its consumers are. Worker side (:func:`loopback_main`): the mirror
image, then the same worker loop as every other mode. The protocol and its checks are
in :mod:`retriever.rt.transport.rendezvous`.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from retriever.contract.errors import BackendError, ConfigError
from retriever.contract.wire import decode, encode

from ...transport import ControlLink, rendezvous
from ...transport.framing import FramedSocket, read_frame
from ...transport.rendezvous import Rendezvous
from .plan import Plan, WaitOptions
from .proc import sigint_held
from .start import apply_boot, boot_message
from .worker import worker_main

TOKEN_ENV = "RETRIEVER_MP_TOKEN"
# SIGINT is ignored first thing: the parent coordinates Ctrl-C. Where there are signal
# masks the worker starts with SIGINT blocked (proc.sigint_held), so one sent before
# this line waits and is then discarded.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "hasattr(signal, 'pthread_sigmask') and signal.pthread_sigmask(signal.SIG_UNBLOCK, "
    "[signal.SIGINT]); import sys; "
    "from retriever.rt.backends.multiprocessing.loopback import loopback_main; "
    "sys.exit(loopback_main(int(sys.argv[1]), sys.argv[2]))"
)
ROLES = ("ctl", "watch")


@dataclass
class Started:
    """One worker started over loopback, connected and told where its peers are."""

    part: str
    popen: subprocess.Popen[bytes]
    link: ControlLink
    watch: socket.socket


def _worker_key(fields: list[Any]) -> Any:
    """``(partition, role)`` of a worker's introduction, or None."""
    if len(fields) == 2 and all(isinstance(f, str) for f in fields):
        return (fields[0], fields[1])
    return None


def _channel_key(fields: list[Any]) -> Any:
    """The channel index of a producer's introduction, or None."""
    if len(fields) == 2 and fields[0] == "chan" and isinstance(fields[1], int):
        return fields[1]
    return None


def _spawn(rv: Rendezvous, part: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env[TOKEN_ENV] = rv.token.hex()  # private to this user, unlike a command line
    with sigint_held():
        return subprocess.Popen([sys.executable, "-c", _BOOT, str(rv.port), part],
                                env=env, close_fds=True)


def _await_messages(links: dict[str, ControlLink], kind: str, timeout: float
                    ) -> dict[str, list[Any]]:
    """The first ``kind`` message of each link (others before it are errors)."""
    got: dict[str, list[Any]] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(links):
        waiting = {p: lk for p, lk in links.items() if p not in got}
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendError(f"workers of partitions {', '.join(sorted(waiting))} did not "
                               f"report {kind!r} within {timeout:g} s")
        r, _, _ = select.select([lk.sock for lk in waiting.values()], [], [], left)
        for part, lk in waiting.items():
            if lk.sock not in r:
                continue
            for m in lk.receive():
                if m[0] == kind and part not in got:
                    got[part] = m
            if part not in got and lk.closed:
                raise BackendError(f"the worker of partition {part!r} exited while "
                                   f"connecting (before {kind!r})",
                                   hint="see its output above")
    return got


def start_all(plan: Plan, parts: list[str], graph_json: str, *, shm_slots: int,
              waiting: WaitOptions, trust: dict[str, Any]) -> list[Started]:
    """Start the workers of ``parts`` and connect everything; on failure every process
    started is killed and every socket closed before the error propagates."""
    rv = Rendezvous()
    popens: dict[str, subprocess.Popen[bytes]] = {}
    conns: dict[Any, socket.socket] = {}
    links: dict[str, ControlLink] = {}

    def alive() -> None:
        for part, p in popens.items():
            if p.poll() is not None:
                raise BackendError(f"the worker of partition {part!r} exited with code "
                                   f"{p.returncode} before connecting",
                                   hint="see its output above")
    try:
        for part in parts:
            popens[part] = _spawn(rv, part)
        want = {(part, role) for part in parts for role in ROLES}
        conns = rendezvous.accept_all(
            rv.listener, rv.token, want,
            _worker_key,
            where="the multiprocessing run", alive=alive)
        links = {part: ControlLink(conns[(part, "ctl")]) for part in parts}
        for part, lk in links.items():
            if not lk.send(*boot_message(graph_json, part, {}, -1, shm_slots=shm_slots,
                                         waiting=waiting, portable=True, trust=trust)):
                raise BackendError(f"could not boot the worker of partition {part!r}")
        ports = {p: int(m[1]) for p, m in _await_messages(
            links, "listen", rendezvous.CONNECT_TIMEOUT).items()}
        for part, lk in links.items():
            peers = {str(ch.index): ports[ch.dst] for ch in plan.channels if ch.src == part}
            lk.send("peers", peers)
    except BaseException:
        for p in popens.values():
            p.kill()
            p.wait()
        for s in conns.values():
            s.close()
        raise
    finally:
        rv.close()
    return [Started(part, popens[part], links[part], conns[(part, "watch")])
            for part in parts]


# ---------------------------------------------------------------------- worker side

def loopback_main(port: int, part: str) -> int:
    """Entry point of a loopback worker: connect to the parent on ``port``, boot, connect
    the channels, then run the worker loop. Returns the process exit code."""
    token = bytes.fromhex(os.environ.pop(TOKEN_ENV, ""))  # not for the flows' children
    ctl = rendezvous.connect(port, token, part, "ctl")
    watch = rendezvous.connect(port, token, part, "watch")
    boot = apply_boot(read_frame(ctl))
    if boot is None:
        return 3  # the parent went away before booting us
    plan = boot.plan
    ins = {ch.index for ch in plan.channels if ch.dst == boot.part}
    lst = rendezvous.listen() if ins else None
    stream = FramedSocket(ctl)
    stream.send_all(encode(["listen", lst.getsockname()[1] if lst is not None else 0]))
    ctl.setblocking(True)
    peers = read_frame(ctl)  # exactly one frame: a stop request may follow it
    if peers is None:
        return 3
    msg = decode(peers)
    if not isinstance(msg, list) or len(msg) != 2 or msg[0] != "peers":
        raise BackendError("a loopback worker received no valid list of peers")
    socks: dict[int, socket.socket] = {}
    try:
        for idx, peer in msg[1].items():  # connect completes in the consumer's backlog
            socks[int(idx)] = rendezvous.connect(int(peer), token, "chan", int(idx))
        if lst is not None:
            socks.update(rendezvous.accept_all(
                lst, token, ins, _channel_key, where=f"the worker of partition {boot.part!r}"))
    finally:
        if lst is not None:
            lst.close()
    return worker_main(plan, boot.part, ctl, socks, watch, shm_slots=boot.shm_slots,
                       waiting=boot.waiting)


def refuse_restarts(plan: Plan) -> None:
    """The loopback transport cannot restart a partition. In the other modes the parent
    holds both ends of every channel for the whole run and hands the same end to the
    restarted process, so its peers never notice; over loopback each channel is a TCP
    connection made directly between two workers, which ends for good with either
    process, and a live peer cannot be given a new one mid-run (see
    docs/backends-multiprocessing.md, "Loopback transport")."""
    for part, pol in plan.restart.items():
        if pol.policy != "never":
            flows = ", ".join(plan.partitions[part].nodes)
            raise ConfigError(
                f"flows {flows} ask for restart policy {pol.policy!r}, which the "
                f"multiprocessing backend cannot honour with the loopback transport "
                f"(Windows, or RETRIEVER_MP_TRANSPORT=loopback): a restarted worker's "
                f"peers would need new connections to it",
                hint="on Linux or macOS, unset RETRIEVER_MP_TRANSPORT (restarts work "
                     "there); on Windows, run under WSL2, or drop the restart policy and "
                     "run the pipeline again from your program when run() raises "
                     "FlowError (every flow restarts); see the loopback section of "
                     "docs/backends-multiprocessing.md")
