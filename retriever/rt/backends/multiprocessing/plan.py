"""What the multiprocessing backend runs: partitions, channels and restart policies.

Built once in the parent from the :class:`ExecutionGraph`. A forked worker receives the
plan as ordinary Python objects in its copied memory; a spawned one derives the same
plan from the graph's JSON with :func:`make_plan` (it is deterministic: channel indices
follow the order of the IR's edges).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retriever.contract.errors import ConfigError
from retriever.ir.model import ExecutionGraph, PartitionIR

from ...transport import wait

PortPairs = list[tuple[str, str]]
RESTART_POLICIES = ("never", "on-failure", "always")
MAX_SPIN = 0.01
REALTIME_PRIORITY = 10  # SCHED_FIFO priority of realtime=True: above every ordinary task
MAX_REALTIME_PRIORITY = 99


@dataclass
class ChannelPlan:
    """Everything partition ``src`` sends to partition ``dst`` (one socket)."""

    index: int
    src: str
    dst: str
    sources: dict[str, int] = field(default_factory=dict)  # source flow -> index
    routes: dict[str, list[tuple[str, PortPairs]]] = field(default_factory=dict)
    block: bool = False
    capacity: int = 0

    @property
    def dst_flows(self) -> list[str]:
        """Destination flows fed by this channel."""
        seen: list[str] = []
        for dsts in self.routes.values():
            for name, _ in dsts:
                if name not in seen:
                    seen.append(name)
        return seen


@dataclass
class RestartPolicy:
    """When to restart a partition's process, and how often at most."""

    policy: str = "never"
    max_restarts: int = 3
    window: float = 60.0

    def allows(self, failed: bool) -> bool:
        """Whether an exit (``failed`` or clean) may be followed by a restart."""
        if self.policy == "always":
            return True
        return self.policy == "on-failure" and failed


@dataclass(frozen=True)
class WaitOptions:
    """How a worker waits between steps.

    ``spin``: seconds before each Rate/Tick deadline during which the worker
    busy-waits instead of sleeping; it absorbs the kernel's wake-up latency at a
    bounded CPU cost (at most a tenth of each period). ``spin_arrivals``: the same for
    messages of regular streams from other partitions: the base window, in seconds,
    around a message's predicted arrival during which the worker polls its channels
    instead of sleeping (at most a tenth of the stream's period, widened by the
    measured lateness of the worker's timers, see :mod:`.arrivals`); 0 turns it off.
    ``busy_poll``: never sleep; poll the channels without blocking (lowest arrival
    latency, one busy core per worker). ``waiter``:
    the kind of :mod:`retriever.rt.transport.wait` waiter. ``realtime``: the
    ``SCHED_FIFO`` priority workers ask for (0: the ordinary scheduler); see
    :func:`.priority.apply_realtime`.
    """

    spin: float = 0.0002
    busy_poll: bool = False
    waiter: str = wait.default_kind(False)  # see retriever.rt.transport.wait
    spin_arrivals: float = 0.0002
    realtime: int = 0

    @classmethod
    def from_options(cls, spin: Any, busy_poll: Any, waiter: str = wait.default_kind(False),
                     spin_arrivals: Any = 0.0002, realtime: Any = False) -> WaitOptions:
        """Validate the run options ``spin``, ``spin_arrivals``, ``busy_poll`` and
        ``realtime``."""
        seconds = _spin_seconds("spin", spin)
        arrivals = _spin_seconds("spin_arrivals", spin_arrivals)
        if not isinstance(busy_poll, bool):
            raise ConfigError(f"busy_poll={busy_poll!r} is not True or False")
        return cls(seconds, busy_poll, waiter, arrivals, _realtime_priority(realtime))


def _realtime_priority(value: Any) -> int:
    """``realtime=``: False or 0 (off), True (:data:`REALTIME_PRIORITY`) or a priority."""
    if value is False or value is None or (type(value) is int and value == 0):
        return 0
    if value is True:
        return REALTIME_PRIORITY
    if type(value) is int and 1 <= value <= MAX_REALTIME_PRIORITY:
        return value
    raise ConfigError(f"realtime={value!r} is not True, False or a SCHED_FIFO priority "
                      f"between 1 and {MAX_REALTIME_PRIORITY}",
                      hint=f"use realtime=True (priority {REALTIME_PRIORITY}) or e.g. "
                           f"realtime=50")


def _spin_seconds(name: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0.0 <= seconds <= MAX_SPIN:
        raise ConfigError(f"{name}={value!r} is not a number of seconds between 0 and "
                          f"{MAX_SPIN}",
                          hint=f"use e.g. {name}=0.0002 (200 µs), or 0 never to busy-wait")
    return seconds


CGROUP_ROOT = "/sys/fs/cgroup"


def quota_cores(root: str = CGROUP_ROOT) -> int | None:
    """The cores a CPU quota grants this process's control group (a container limited
    with ``--cpus``), rounded up; None without a quota. Reads cgroup v2's ``cpu.max``,
    else cgroup v1's ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``."""
    base = Path(root)
    try:
        try:
            quota, period = (base / "cpu.max").read_text().split()[:2]
        except FileNotFoundError:
            quota = (base / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (base / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup files: no quota known
        return None


def usable_cores() -> int:
    """How many cores this process may run on: its CPU affinity where the OS has one,
    and no more than a container's CPU quota grants."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity query
        cores = os.cpu_count() or 1
    quota = quota_cores()
    return max(1, cores if quota is None else min(cores, quota))


def busy_wait_defaults(workers: int, cores: int) -> tuple[float, float]:
    """Default ``(spin, spin_arrivals)`` of a run with ``workers`` processes on ``cores``.

    Busy-waiting trades a core's time for a precise wake-up, which only pays while each
    worker has a core to spin on. With more workers than cores a spinning worker holds
    the core another one needs to run its flows: the spinning then costs CPU in
    proportion to the number of partitions (a window per deadline and per stream, each
    tick) and makes the others late, which widens every arrival window further. Such a
    run sleeps until its deadlines and messages instead; options given explicitly win.
    """
    if workers > cores:
        return 0.0, 0.0
    return WaitOptions.spin, WaitOptions.spin_arrivals


@dataclass
class Plan:
    """The physical plan of one multiprocessing run."""

    graph: ExecutionGraph
    partitions: dict[str, PartitionIR]
    channels: list[ChannelPlan]
    restart: dict[str, RestartPolicy]
    owner: dict[str, str]  # flow -> partition


def _restart_of(raw: dict[str, Any] | None, flow: str) -> RestartPolicy:
    if not raw:
        return RestartPolicy()
    policy = raw.get("policy", "never")
    if policy not in RESTART_POLICIES:
        raise ConfigError(f"flow {flow!r} has an unknown restart policy {policy!r}",
                          hint="use never, on-failure or always")
    return RestartPolicy(policy, int(raw.get("max_restarts", 3)),
                         float(raw.get("window", 60.0)))


def make_plan(graph: ExecutionGraph) -> Plan:
    """Derive channels (one per ordered pair of partitions that exchange messages)."""
    ir = graph.ir
    owner = {n: p.id for p in graph.partitions for n in p.nodes}
    channels: dict[tuple[str, str], ChannelPlan] = {}
    for e in ir.edges:
        ps, pd = owner[e.src], owner[e.dst]
        if ps == pd:
            continue
        ch = channels.get((ps, pd))
        if ch is None:
            ch = channels[(ps, pd)] = ChannelPlan(len(channels), ps, pd)
        if e.src not in ch.sources:
            ch.sources[e.src] = len(ch.sources)
            ch.routes[e.src] = []
        ch.routes[e.src].append((e.dst, [(p.src_port, p.dst_port) for p in e.ports]))
        for p in e.ports:
            if p.on_full == "block":
                ch.capacity = p.qsize if not ch.block else min(ch.capacity, p.qsize)
                ch.block = True
            elif not ch.block:
                ch.capacity = max(ch.capacity, p.qsize)
    restart: dict[str, RestartPolicy] = {}
    for part in graph.partitions:
        chosen = RestartPolicy()
        for name in part.nodes:
            pol = _restart_of(ir.node(name).restart, name)
            if pol.policy != "never":
                chosen = pol
                break
        restart[part.id] = chosen
    return Plan(graph, {p.id: p for p in graph.partitions}, list(channels.values()), restart,
                owner)
