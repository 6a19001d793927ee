"""The one sample -> step -> publish implementation, shared by every backend.

A :class:`NodeRuntime` owns a flow instance, one timed buffer per input port and the
port's adapter. Backends only decide *when* to call :meth:`NodeRuntime.execute` and how
messages travel; :meth:`NodeRuntime.deliver` puts an arrived message into the buffers.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

from retriever.contract.composite import CompositeView
from retriever.contract.envelope import envelope_ports
from retriever.contract.errors import FlowError, LoanError
from retriever.contract.wire import from_json_value
from retriever.flow.adapter import Adapter, adapter_from_config
from retriever.flow.loan import LOANS_ATTR
from retriever.ir.model import EdgeIR, NodeIR, SideIR
from retriever.ir.resolve import from_ir, resolve_envelope, resolve_flow, resolve_value_class

from .lag import LagTracker
from .loan import LoanDesk, loan_step_error

Message = dict[str, Any]


def instantiate_flow(node: NodeIR, live: Any = None) -> Any:
    """Build (or take) the flow of ``node`` and run its lifecycle start.

    Order: instantiate from the IR init config, ``__lazy_init__()``, ``reset()``.
    """
    flow = live
    # Every name is checked for its role before anything is called, and what the flows
    # import by name while starting follows the same rules (docs/trust.md).
    with from_ir():
        if flow is None:
            cls = resolve_flow(node.flow, node.source_file)
            def res(ident: str) -> Any:
                return resolve_value_class(ident, node.source_file)
            args = from_json_value(node.init.get("args", []), res)
            kwargs = from_json_value(node.init.get("kwargs", {}), res)
            try:
                flow = cls(*args, **kwargs)
            except Exception as exc:
                raise _flow_error(node.id, "constructor", exc) from exc
        try:
            lazy = getattr(flow, "__lazy_init__", None)
            if lazy is not None:
                lazy()
            flow.reset()
        except Exception as exc:
            raise _flow_error(node.id, "start-up (__lazy_init__/reset)", exc) from exc
    return flow


def _wrote_read_only(exc: Exception) -> bool:
    """Whether ``exc`` says a read-only array was written (numpy's ValueError, or
    OpenCV's error for a read-only ``dst=``)."""
    text = str(exc)
    return "read-only" in text or "readonly" in text


def _flow_error(name: str, where: str, exc: BaseException) -> FlowError:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return FlowError(name, f"{where} raised {type(exc).__name__}: {exc}", traceback_text=tb)


class _InputPort:
    __slots__ = ("adapter", "alias", "arrivals", "buffer", "field", "fresh", "name", "qsize",
                 "trigger")

    def __init__(self, name: str, alias: str, field: str) -> None:
        self.name = name
        self.alias = alias
        self.field = field
        self.buffer: list[tuple[float, Any]] = []
        self.adapter: Adapter | None = None
        self.qsize = 1
        self.arrivals = 0
        self.fresh = 0  # arrivals since the flow last ran (for counting drops)
        self.trigger = False  # an arrival here triggers a Trigger/Hybrid step


class _Side:
    """Builds input objects / flattens output objects for one signature side."""

    def __init__(self, side: SideIR, source_file: str | None) -> None:
        self.classes = [resolve_envelope(e.cls, source_file) if e.cls else None
                        for e in side.elements]
        self.aliases = [e.alias or "" for e in side.elements if e.cls]
        self.envelopes = [c for c in self.classes if c is not None]
        self.composite = side.composite and len(side.elements) > 1
        self.is_none = not self.envelopes


class NodeRuntime:
    """One flow's runtime state: buffers, adapters, trigger bookkeeping and counters."""

    def __init__(self, node: NodeIR, flow: Any) -> None:
        self.node = node
        self.name = node.id
        self.flow = flow
        self.clock = node.clock
        self.inputs = _Side(node.inputs, node.source_file)
        self.outputs = _Side(node.outputs, node.source_file)
        self.ports: dict[str, _InputPort] = {
            p.name: _InputPort(p.name, p.alias, p.field) for p in node.input_ports}
        self._connected: list[_InputPort] = []
        self._awaited = self._connected  # ports a start-up wait waits for
        self._trigger_ports: list[_InputPort] = []
        self.armed = False  # a trigger port received a message since the last sample
        self.tracker: LagTracker | None = None  # set by the scheduler for periodic clocks
        self._out_fields = [(p.name, p.alias, p.field) for p in node.output_ports]
        self._blank = [dict.fromkeys(envelope_ports(cls)) for cls in self.inputs.envelopes]
        self.steps = 0
        self.dropped = 0
        self.errors = 0
        self._step: Callable[[Any], Any] = flow.step
        # lends arrays for the outputs (Flow.loan); a backend may give it an allocator
        self.desk = LoanDesk(self.name, [p.name for p in node.output_ports])
        flow.__dict__[LOANS_ATTR] = self.desk

    # ------------------------------------------------------------------ wiring
    def bind_input(self, edge: EdgeIR) -> list[tuple[str, str]]:
        """Attach an incoming edge: adapters and queue sizes per destination port."""
        routes = []
        for ep in edge.ports:
            port = self.ports[ep.dst_port]
            port.adapter = adapter_from_config(ep.adapter.to_dict())
            port.qsize = ep.qsize
            if port not in self._connected:
                self._connected.append(port)
            routes.append((ep.src_port, ep.dst_port))
        self._resolve_triggers()
        return routes

    def _resolve_triggers(self) -> None:
        names = set(self.clock.trigger)
        trig = []
        for p in self.ports.values():
            p.trigger = p.name in names or p.field in names or f"{p.alias}.{p.field}" in names
            if p.trigger:
                trig.append(p)
        self._trigger_ports = trig
        self.armed = False

    # ------------------------------------------------------------------ arrivals
    def deliver(self, routes: Sequence[tuple[str, str]], ts: float, message: Message) -> None:
        """Put one arrived message into the buffers of the ports it feeds (whole)."""
        ports = self.ports
        lost = False
        for src, dst in routes:
            if src in message:
                port = ports[dst]
                if port.trigger:
                    self.armed = True
                buf = port.buffer
                buf.append((ts, message[src]))
                port.fresh += 1
                if len(buf) > port.qsize:
                    del buf[0]  # full history: drop the oldest, keep the newest
                    # a message the flow never had a chance to see counts as dropped
                    if port.fresh > port.qsize:
                        port.fresh = port.qsize
                        lost = True
                port.arrivals += 1
        if lost:
            self.dropped += 1

    def triggered(self) -> bool:
        """Whether a trigger port received a message since the last run."""
        return self.armed

    def connected_ports(self) -> list[str]:
        """Names of the input ports an edge feeds."""
        return [p.name for p in self._connected]

    def await_inputs(self, ports: Sequence[str]) -> None:
        """Name the connected ports a start-up wait waits for (see ``missing_inputs``)."""
        self._awaited = [self.ports[n] for n in ports]

    def sampled_ports(self, mode: str) -> list[tuple[str, str, Adapter | None]]:
        """``(port, field, adapter)`` of each input port a run in ``mode`` samples
        (``all``: every connected port, ``trigger``: the trigger ports, ``none``)."""
        ports = (self._connected if mode == "all" else
                 self._trigger_ports if mode == "trigger" else [])
        return [(p.name, p.field, p.adapter) for p in ports]

    def latest_value(self, port: str) -> tuple[bool, Any]:
        """``(True, value)`` of the newest message in ``port``'s buffer, ``(False,
        None)`` when it is empty."""
        buf = self.ports[port].buffer
        return (True, buf[-1][1]) if buf else (False, None)

    def missing_inputs(self) -> list[str]:
        """Awaited input ports (by default every connected one) that never received a
        value."""
        return [p.name for p in self._awaited if not p.buffer]

    # ------------------------------------------------------------------ the step
    def sample(self, now: float, mode: str) -> Any:
        """Sample inputs at ``now``. ``mode`` is ``all``, ``trigger`` or ``none``."""
        side = self.inputs
        if side.is_none:
            return None
        if mode == "all":
            ports = self._connected
        elif mode == "trigger":
            ports = self._trigger_ports
        else:
            ports = []
        self.armed = False
        for p in self._connected:
            p.fresh = 0
        if not side.composite:
            # Every port starts as None: a port that was not sampled carried nothing,
            # even when the envelope class declares another default.
            values = dict(self._blank[0])
            for p in ports:
                if p.buffer:
                    v = p.adapter(p.buffer, now) if p.adapter else p.buffer[-1][1]
                    if v is not None:
                        values[p.field] = v
            return side.envelopes[0](**values)
        per_alias: dict[str, dict[str, Any]] = {
            a: dict(blank) for a, blank in zip(side.aliases, self._blank, strict=True)}
        for p in ports:
            if p.buffer:
                v = p.adapter(p.buffer, now) if p.adapter else p.buffer[-1][1]
                if v is not None:
                    per_alias[p.alias][p.field] = v
        parts = [cls(**per_alias[a]) for a, cls in zip(side.aliases, side.envelopes,
                                                        strict=True)]
        return CompositeView(side.aliases, parts)

    def execute(self, now: float, mode: str = "all") -> tuple[Any, Any, Message | None]:
        """Sample, step and publish once; returns (input, output, message).

        A flow exception is raised as :class:`FlowError` naming the flow, with the
        original exception chained (so a debugger shows where it happened).
        """
        inp = self.sample(now, mode)
        try:
            out = self._step(inp)
        except Exception as exc:
            self.errors += 1
            if isinstance(exc, LoanError) or (self.desk.busy and _wrote_read_only(exc)):
                raise loan_step_error(self.name, exc) from exc
            raise _flow_error(self.name, "step()", exc) from exc
        self.steps += 1
        msg = self.publish(out)
        desk = self.desk
        if desk.busy:  # only flows that ever loaned an array pay for the check
            desk.settle(msg)
        return inp, out, msg

    def publish(self, out: Any) -> Message | None:
        """Flatten a step result into a ``{port: value}`` message (None: nothing)."""
        if out is None:
            return None
        side = self.outputs
        if side.is_none:
            raise FlowError(self.name, f"step() returned {type(out).__name__} but the flow "
                            "declares no output", hint="return None from a sink flow")
        if not side.composite:
            cls = side.envelopes[0]
            if type(out) is not cls and not isinstance(out, cls):
                raise self._bad_return(out, cls.__name__)
            d = out.__dict__
            msg = {name: d[f] for name, _, f in self._out_fields if d.get(f) is not None}
            return msg or None
        if not isinstance(out, tuple) or len(out) != len(side.envelopes):
            names = ", ".join(c.__name__ for c in side.envelopes)
            raise self._bad_return(out, f"a tuple ({names})")
        msg = {}
        by_alias = dict(zip(side.aliases, out, strict=True))
        for alias, cls in zip(side.aliases, side.envelopes, strict=True):
            part = by_alias[alias]
            if part is not None and not isinstance(part, cls):
                raise self._bad_return(part, f"{cls.__name__} for {alias}")
        for name, alias, f in self._out_fields:
            part = by_alias[alias]
            if part is not None:
                v = getattr(part, f)
                if v is not None:
                    msg[name] = v
        return msg or None

    def _bad_return(self, out: Any, expected: str) -> FlowError:
        return FlowError(self.name, f"step() returned {type(out).__name__}, expected {expected}",
                         hint="return the flow's output type O", code="RET005")

    def finalize(self) -> None:
        """Call the flow's ``finalize()`` (errors are raised naming the flow)."""
        try:
            self.flow.finalize()
        except Exception as exc:
            raise _flow_error(self.name, "finalize()", exc) from exc
        finally:
            # the run is over: a live flow stepped by hand afterwards loans plain memory
            if self.flow.__dict__.get(LOANS_ATTR) is self.desk:
                del self.flow.__dict__[LOANS_ATTR]

    def stats(self) -> dict[str, int]:
        """Counters for the run report."""
        t = self.tracker
        return {"steps": self.steps, "lag_events": t.lag_events if t is not None else 0,
                "skipped_ticks": t.skipped if t is not None else 0,
                "skipped_at_stop": t.cut_at_stop if t is not None else 0,
                "dropped": self.dropped, "errors": self.errors}
