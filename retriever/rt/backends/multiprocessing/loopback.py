"""Starting workers that inherit no descriptor: the loopback transport (Windows; forced
on Linux with ``RETRIEVER_MP_TRANSPORT=loopback``).

Parent side (:func:`start_all`): listen on ``127.0.0.1`` (:class:`Rendezvous`), start
every worker with :mod:`subprocess` (the port and the partition on its command line,
the token in its environment), accept each worker's control and watch connections,
send the boot message, collect the port each consumer listens on and tell every
producer where its consumers are. Restarting a partition is the same for one worker,
which then connects every channel it has to its live peers, whose workers accept the
new connections (:mod:`.rejoin`). Worker side (:func:`loopback_main`): the mirror
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

from retriever.contract.errors import BackendError
from retriever.contract.wire import decode, encode

from ...transport import ControlLink, rendezvous
from ...transport.framing import FramedSocket, read_frame
from ...transport.rendezvous import Rendezvous
from .plan import Plan, WaitOptions
from .proc import sigint_held
from .rejoin import Rejoin, channel_key, placeholder, rejoinable
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
    port: int  # where it accepts channels (0: nowhere)


def _worker_key(fields: list[Any]) -> Any:
    """``(partition, role)`` of a worker's introduction, or None."""
    if len(fields) == 2 and all(isinstance(f, str) for f in fields):
        return (fields[0], fields[1])
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


def _peers(plan: Plan, part: str, ports: dict[str, int], restart: bool
           ) -> tuple[dict[str, int], list[int]]:
    """Where ``part``'s worker connects (channel index -> port) and which channels it
    accepts: at start, producers connect to their consumers; a restarted worker
    connects every channel whose peer listens (``ports``) and accepts none."""
    if not restart:
        return ({str(ch.index): ports[ch.dst] for ch in plan.channels if ch.src == part},
                [ch.index for ch in plan.channels if ch.dst == part])
    connect: dict[str, int] = {}
    for ch in plan.channels:
        peer = ch.dst if ch.src == part else ch.src if ch.dst == part else None
        if peer is not None and ports.get(peer):
            connect[str(ch.index)] = ports[peer]
    return connect, []


def start_all(plan: Plan, parts: list[str], graph_json: str, *, shm_slots: int,
              waiting: WaitOptions, trust: dict[str, Any], token: bytes,
              live: dict[str, int] | None = None) -> list[Started]:
    """Start the workers of ``parts`` and connect everything; on failure every process
    started is killed and every socket closed before the error propagates. ``live``:
    a restart of ``parts``, whose peers are listening on these ports."""
    rv = Rendezvous(token)
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
            lk.send("peers", *_peers(plan, part, live if live is not None else ports,
                                     live is not None))
    except BaseException:
        for p in popens.values():
            p.kill()
            p.wait()
        for s in conns.values():
            s.close()
        raise
    finally:
        rv.close()
    return [Started(part, popens[part], links[part], conns[(part, "watch")], ports[part])
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
    plan, part = boot.plan, boot.part
    # with restarts, the listener stays open for the successors of our peers
    rejoin = rejoinable(plan, part)
    mine = {ch.index for ch in plan.channels if part in (ch.src, ch.dst)}
    lst = rendezvous.listen() if rejoin or any(ch.dst == part for ch in plan.channels) else None
    stream = FramedSocket(ctl)
    stream.send_all(encode(["listen", lst.getsockname()[1] if lst is not None else 0]))
    ctl.setblocking(True)
    peers = read_frame(ctl)  # exactly one frame: a stop request may follow it
    if peers is None:
        return 3
    msg = decode(peers)
    if (not isinstance(msg, list) or len(msg) != 3 or msg[0] != "peers"
            or not isinstance(msg[1], dict) or not isinstance(msg[2], list)):
        raise BackendError("a loopback worker received no valid list of peers")
    socks: dict[int, socket.socket] = {}
    gone: dict[int, tuple[socket.socket, socket.socket]] = {}
    try:
        own = lst.getsockname()[1] if lst is not None else 0
        for idx, peer in msg[1].items():  # connect completes in the peer's backlog
            if int(peer) == own:  # a dead peer's port, reused by our own listener
                continue
            try:
                socks[int(idx)] = rendezvous.connect(int(peer), token, "chan", int(idx))
            except OSError:
                if not rejoin:
                    raise
                # the peer died since: its successor will connect to us
        if msg[2] and lst is not None:
            socks.update(rendezvous.accept_all(
                lst, token, {int(i) for i in msg[2]}, channel_key,
                where=f"the worker of partition {part!r}"))
        for idx in mine - set(socks) if rejoin else ():
            gone[idx] = placeholder()
            socks[idx] = gone[idx][0]
    finally:
        if lst is not None and not rejoin:
            lst.close()
    attach = Rejoin(lst, token, part, socks, gone).attach if lst is not None and rejoin else None
    return worker_main(plan, part, ctl, socks, watch, shm_slots=boot.shm_slots,
                       waiting=boot.waiting, attach=attach)
