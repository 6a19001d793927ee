"""The tick logic of a function worker, shared by the local runner and the worker flow.

A :class:`WorkerEngine` owns one FIFO queue per declared input stream. :meth:`plan`
decides whether a tick can be formed from the queued messages (synchronous mode: one
message per stream; streaming mode: the first satisfiable option of the pending pull
request) and :meth:`fire` calls the worker function, checks the shape of what it
returned and returns the tick's output.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .component import Component
from .config import WorkerConfig, config
from .errors import WorkerError
from .persist import StateStore
from .pull import ONE, InputsPullOption, InputsPullRequest, Plan, plan_request
from .streams import VirtualInputStream, VirtualOutputStream


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
STATE = "state"
VIRTUAL_INPUT = "virtual_input"
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def fn_name(fn: Callable[..., Any]) -> str:
    """A readable name of a worker function."""
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn)))


class FunctionShape:
    """What a worker function's signature says: positional inputs and special params."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise WorkerError(f"run() needs a callable worker function, got {fn!r}",
                              code="RET850")
        self.fn = fn
        self.name = fn_name(fn)
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise WorkerError(f"cannot read the signature of {self.name}: {exc}",
                              code="RET850") from None
        params = list(sig.parameters.values())
        self.has_state = any(p.name == STATE for p in params)
        self.has_virtual = any(p.name == VIRTUAL_INPUT for p in params)
        positional = [p for p in params if p.kind in _POSITIONAL
                      and p.name not in (STATE, VIRTUAL_INPUT)]
        self.varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
        self.required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
        self.total = len(positional)
        self.names = [p.name for p in positional]
        self.signature = f"{self.name}{sig}"
        bad = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY
               and p.default is inspect.Parameter.empty and p.name not in (STATE,
                                                                           VIRTUAL_INPUT)]
        if bad:
            raise WorkerError(f"worker {self.signature} has required keyword-only "
                              f"parameter(s) {bad}", code="RET850",
                              hint="inputs are passed positionally; give those a default")

    def accepts(self, n: int) -> bool:
        """Whether ``n`` positional inputs fit."""
        return self.required <= n and (self.varargs or n <= self.total)

    def check_inputs(self, component: Component) -> None:
        """Raise unless the positional parameters match the declared input streams."""
        n = len(component.inputs)
        if self.accepts(n):
            return
        declared = ", ".join(f"{p.name}: {p.type_name}" for p in component.inputs) or "none"
        takes = (f"{self.required}" if self.required == self.total
                 else f"{self.required} to {self.total}")
        raise WorkerError(
            f"worker {self.signature} takes {takes} positional input parameter(s) but "
            f"{component.source or 'the component'} declares {n} input stream(s) "
            f"({declared})", code="RET850",
            hint="give the function one positional parameter per declared input, in "
                 "declared order (plus 'state' / 'virtual_input' keywords for those modes)")


class WorkerEngine:
    """Queues, mode and per-tick contract checks of one worker."""

    def __init__(self, fn: Callable[..., Any], component: Component, *,
                 initial_state: Any = UNSET,
                 initial_pull_request: InputsPullRequest | None = None,
                 use_virtual_output: bool = False,
                 cfg: WorkerConfig | None = None,
                 vin: VirtualInputStream | None = None,
                 vout: VirtualOutputStream | None = None,
                 store: StateStore | None = None,
                 outputs_known: bool = True) -> None:
        shape = FunctionShape(fn)
        shape.check_inputs(component)
        self.shape = shape
        self.fn = fn
        self.component = component
        self.n_inputs = len(component.inputs)
        self.n_outputs: int | None = len(component.outputs) if outputs_known else None
        if initial_state is not UNSET and not shape.has_state:
            raise WorkerError(f"run(initial_state=...) was given but worker "
                              f"{shape.signature} has no 'state' parameter", code="RET851",
                              hint="add a 'state' parameter and return {'output', 'state'}")
        self.stateful = shape.has_state
        self.state = None if initial_state is UNSET else initial_state
        if initial_pull_request is not None and not isinstance(initial_pull_request,
                                                               InputsPullRequest):
            raise WorkerError(f"initial_pull_request must be an InputsPullRequest, got "
                              f"{initial_pull_request!r}", code="RET851")
        self.streaming = initial_pull_request is not None
        if initial_pull_request is not None:
            initial_pull_request.check_arity(self.n_inputs)
        self.request = initial_pull_request or InputsPullRequest(
            InputsPullOption([ONE] * self.n_inputs,
                             virtual_shift=ONE if shape.has_virtual else None))
        self.use_virtual_output = bool(use_virtual_output)
        self.config = cfg if cfg is not None else WorkerConfig(component.config)
        self.vin = vin
        self.vout = vout
        self.has_virtual = shape.has_virtual
        if self.has_virtual and vin is None:
            raise WorkerError("a virtual_input worker needs a virtual input stream",
                              code="RET851")
        if self.use_virtual_output and vout is None:
            raise WorkerError("use_virtual_output needs a virtual output stream",
                              code="RET851")
        self.source = self.n_inputs == 0 and not self.has_virtual
        self.queues: list[deque[Any]] = [deque() for _ in range(self.n_inputs)]
        self.store = store
        self.ticks = 0
        self.restored = False
        if store is not None and self.stateful:
            found, state, ticks = store.load()
            if found:
                self.state, self.ticks, self.restored = state, ticks, True

    # ------------------------------------------------------------------ queues
    def push(self, index: int, message: Any) -> None:
        """Queue one message on input stream ``index``."""
        self.queues[index].append(message)

    def extend(self, index: int, messages: Sequence[Any]) -> None:
        """Queue several messages on input stream ``index``."""
        self.queues[index].extend(messages)

    def plan(self, virtual_available: int | None = None) -> Plan | None:
        """The next tick's plan from the queued messages, or None if none can be formed.

        ``virtual_available`` overrides the virtual input's queue length (used to ask
        whether more virtual data could help).
        """
        if self.source:
            return (), None
        if self.has_virtual and virtual_available is None:
            assert self.vin is not None
            virtual_available = len(self.vin)
        return plan_request(self.request, [len(q) for q in self.queues],
                            virtual_available if self.has_virtual else None)

    # ------------------------------------------------------------------ a tick
    def fire(self, plan: Plan) -> Any:
        """Run one tick of the worker per ``plan``; returns the tick's output."""
        parts, vplan = plan
        args: list[Any] = []
        for q, (skip, take) in zip(self.queues, parts, strict=True):
            for _ in range(skip):
                q.popleft()
            taken = [q.popleft() for _ in range(take)]
            args.append(taken if self.streaming else taken[0])
        kwargs: dict[str, Any] = {}
        if self.has_virtual:
            assert self.vin is not None and vplan is not None
            kwargs[VIRTUAL_INPUT] = self.vin.take(*vplan)
        if self.stateful:
            kwargs[STATE] = self.state
        self.config.poll()
        prev = config._enter(self.config)
        try:
            result = self.fn(*args, **kwargs)
        finally:
            config._leave(prev)
        output = self._unpack(result)
        self.ticks += 1
        if self.stateful and self.store is not None:
            self.store.save(self.state, self.ticks)
        return output

    def _unpack(self, result: Any) -> Any:
        keys = {"output"}
        if self.stateful:
            keys.add("state")
        if self.streaming:
            keys.add("pull_request")
        if self.use_virtual_output:
            keys.add("virtual_output")
        if keys == {"output"}:
            return self._check_output(result)
        wanted = "{" + ", ".join(repr(k) for k in sorted(keys)) + "}"
        if not isinstance(result, dict):
            raise WorkerError(f"worker {self.shape.name} returned {type(result).__name__}; "
                              f"in this mode it must return a dict {wanted}", code="RET860")
        if self.stateful and "state" not in result:
            raise WorkerError(f"stateful worker {self.shape.name} returned no 'state' "
                              f"(keys: {sorted(result)})", code="RET861",
                              hint="return {'output': ..., 'state': new_state}")
        if self.streaming:
            req = result.get("pull_request")
            if not isinstance(req, InputsPullRequest):
                got = "no 'pull_request'" if "pull_request" not in result else (
                    f"pull_request={req!r}")
                raise WorkerError(f"streaming worker {self.shape.name} returned {got}; "
                                  "expected an InputsPullRequest", code="RET862",
                                  hint="return {'output': [...], 'pull_request': "
                                       "InputsPullRequest(...)}")
            req.check_arity(self.n_inputs)
        if self.use_virtual_output:
            vo = result.get("virtual_output", UNSET)
            if vo is UNSET or not (vo is None or isinstance(vo, list | tuple)):
                raise WorkerError(f"worker {self.shape.name} (use_virtual_output=True) "
                                  "returned no 'virtual_output' list", code="RET865",
                                  hint="return {'output': ..., 'virtual_output': [...]}")
        missing = keys - set(result)
        extra = set(result) - keys
        if missing or extra:
            raise WorkerError(f"worker {self.shape.name} returned keys {sorted(result)}; "
                              f"expected exactly {wanted}", code="RET860")
        output = self._check_output(result["output"])
        if self.stateful:
            self.state = result["state"]
        if self.streaming:
            self.request = result["pull_request"]
        if self.use_virtual_output:
            assert self.vout is not None
            self.vout.emit(list(result["virtual_output"] or []))
        return output

    def _check_output(self, out: Any) -> Any:
        n = self.n_outputs
        name = self.shape.name
        if self.streaming:
            if n == 0 and out in (None, []):
                return out
            multi = (n is not None and n > 1) or (n is None and isinstance(out, tuple))
            if not multi:
                if not isinstance(out, list):
                    raise WorkerError(f"streaming worker {name} returned output of type "
                                      f"{type(out).__name__}; each output must be a list",
                                      code="RET863", hint="return {'output': [m1, m2, ...]}")
                return out
            if not isinstance(out, tuple | list) or (n is not None and len(out) != n):
                raise WorkerError(f"streaming worker {name} must return a tuple of {n} "
                                  f"lists (one per output stream), got {out!r:.80}",
                                  code="RET864")
            for i, o in enumerate(out):
                if not isinstance(o, list):
                    raise WorkerError(f"streaming worker {name}: output {i} is "
                                      f"{type(o).__name__}, not a list", code="RET863")
            return tuple(out)
        if n is not None and n > 1 and out is not None and (
                not isinstance(out, tuple) or len(out) != n):
                names = ", ".join(p.name for p in self.component.outputs)
                raise WorkerError(f"worker {name} returned {type(out).__name__} but the "
                                  f"component declares {n} outputs ({names}); expected a "
                                  f"tuple of {n} in declared order", code="RET864")
        return out
