"""Inputs the recording writer rebuilds from the outputs instead of receiving them.

Recording a flow's inputs used to mean encoding, on the stepping thread, every value a
flow sampled, although most of them are an upstream output recorded in the same
stream. In the in-process stepper (``pipe.record``, ``retriever replay --record``, and
``pipe.run(backend="in-process", record=...)``) what a flow samples through a
``Latest`` adapter is known exactly: a flow runs at most once per step, at the step's
time, in the order the step lists them (lockstep, or only the flows whose clock is due
when the stepper honours rates), so a port holds the newest value delivered to it, and
a run samples a fixed set of ports (all connected ports for Rate/Hybrid, the trigger
ports for Trigger, none for Tick). The writer process replays those deliveries from the
recorded outputs and rebuilds such inputs itself; the stepping thread sends only the
inputs it cannot rebuild.

A flow's inputs are rebuilt only when that is exact:

* the flow is not replayed;
* its input is one envelope (not a composite) and every port a run samples has a
  ``Latest`` adapter;
* those ports, and every output port feeding them, are declared as immutable scalars
  (``int``, ``float``, ``bool``, ``str``, optionally ``None``): a value that cannot
  change after it was published reads the same in the output and in the input.

If the step time ever goes backwards (``Latest`` then skips newer messages), a replay
is added while recording, or a flow catches up on missed ticks (those runs sample at
earlier times, and only their last message is in the step), the recorder sends every
input from then on.

The plan travels to the writer as the first item of the stream (:func:`pack_plan`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from retriever.flow.adapter import Latest
from retriever.rt.stepper import Stepper

from .layout import port_types

_SCALARS = frozenset((int, float, bool, str))

#: (flow, input port)
PortKey = tuple[str, str]


def immutable_scalar(tp: Any) -> bool:
    """Whether a port declared as ``tp`` carries only immutable scalars."""
    if tp in _SCALARS:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(args) and all(a in _SCALARS for a in args)
    return False


@dataclass
class InputPlan:
    """How the writer rebuilds inputs.

    ``derived``: flow -> ``(port, field)`` of each port its runs sample (a flow listed
    here gets its inputs rebuilt; a flow without input ports has an empty list);
    ``encoded``: the flows whose inputs are sent; ``feeds``: source flow -> output
    port -> the derived input ports it delivers to; ``latest``: the newest value each
    derived port held when the recording started (the stepper may have run before).
    """

    derived: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    encoded: list[str] = field(default_factory=list)
    feeds: dict[str, dict[str, list[PortKey]]] = field(default_factory=dict)
    latest: dict[PortKey, Any] = field(default_factory=dict)


def plan_inputs(stepper: Stepper) -> InputPlan | None:
    """The plan for recording ``stepper``'s steps (None when no flow's inputs can be
    rebuilt)."""
    scheduler = stepper.scheduler
    nodes = {n.id: n for n in stepper.ir.nodes}
    sources: dict[PortKey, list[tuple[str, str]]] = {}
    for src, routes in scheduler.routes.items():
        for dst_rt, pairs in routes:
            for src_port, dst_port in pairs:
                sources.setdefault((dst_rt.name, dst_port), []).append((src, src_port))
    out_types = {name: port_types(node, "out") for name, node in nodes.items()}
    plan = InputPlan()
    for name, rt in stepper.runtimes.items():
        if name in stepper.replay:
            continue  # publishes recorded messages: samples nothing
        if rt.inputs.composite:
            plan.encoded.append(name)
            continue
        in_types = port_types(nodes[name], "in")
        sampled = rt.sampled_ports(scheduler.lockstep_mode(name))
        exact = all(
            type(adapter) is Latest and immutable_scalar(in_types.get(port))
            and all(immutable_scalar(out_types[src].get(src_port))
                    for src, src_port in sources.get((name, port), ()))
            for port, _, adapter in sampled)
        if not exact:
            plan.encoded.append(name)
            continue
        plan.derived[name] = [(port, f) for port, f, _ in sampled]
        for port, _, _ in sampled:
            for src, src_port in sources.get((name, port), ()):
                plan.feeds.setdefault(src, {}).setdefault(src_port, []).append((name, port))
            held, value = rt.latest_value(port)
            if held:
                plan.latest[(name, port)] = value
    return plan if plan.derived else None


def pack_plan(plan: InputPlan) -> tuple[Any, ...]:
    """What the writer needs of ``plan``, as plain data for the stream (three items,
    where a step has four)."""
    return (plan.derived, plan.feeds, [[f, p, v] for (f, p), v in plan.latest.items()])


class InputRebuilder:
    """The writer's side: follows the recorded outputs and rebuilds the inputs."""

    def __init__(self, plan: InputPlan, latest: dict[PortKey, Any]) -> None:
        self.derived = plan.derived
        self.feeds = plan.feeds
        self.latest = latest

    @classmethod
    def unpack(cls, packed: list[Any]) -> InputRebuilder:
        """The rebuilder for a plan packed by :func:`pack_plan` (and decoded)."""
        derived, feeds, held = packed
        plan = InputPlan(
            derived={n: [(port, f) for port, f in ports] for n, ports in derived.items()},
            feeds={src: {port: [(n, p) for n, p in keys] for port, keys in by_port.items()}
                   for src, by_port in feeds.items()})
        return cls(plan, {(f, p): v for f, p, v in held})

    def step(self, executed: list[str], messages: dict[str, dict[str, Any]],
             sent: dict[str, Any] | None) -> dict[str, Any]:
        """Every input of one step: the ``sent`` ones plus the rebuilt ones (``{field:
        value}`` per flow), following the flows in the order they ran."""
        inputs: dict[str, Any] = dict(sent) if sent else {}
        latest = self.latest
        for name in executed:
            ports = self.derived.get(name)
            if ports is not None:
                inputs[name] = {f: latest[(name, port)] for port, f in ports
                                if (name, port) in latest}
            msg = messages.get(name)
            feeds = self.feeds.get(name) if msg else None
            if feeds:
                for src_port, value in msg.items():  # type: ignore[union-attr]
                    for key in feeds.get(src_port, ()):
                        latest[key] = value
        return inputs


__all__ = ["InputPlan", "InputRebuilder", "immutable_scalar", "pack_plan", "plan_inputs"]
