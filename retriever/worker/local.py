"""``run(worker_function, **options)``: drive a worker over in-memory streams.

Called in a script or a test, ``run(fn, inputs=[stream_1, ...])`` feeds one list of
messages per declared input and returns the list of per-tick outputs. It returns when no
further tick can be formed: an input ran out (synchronous and stateful modes), the
pending pull request cannot be satisfied (streaming mode), or ``virtual_in`` was closed
and every queued message was read (a worker whose only input is virtual).

While a component module is being loaded into a pipeline (see
:func:`retriever.worker.as_flow`), ``run()`` only records the function and its options.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .component import Component, as_component, implicit_component
from .config import WorkerConfig, config
from .engine import UNSET, FunctionShape, WorkerEngine
from .errors import WorkerError
from .loader import loading, register
from .persist import StateStore
from .pull import InputsPullRequest
from .streams import VirtualInputStream, VirtualOutputStream, virtual_in, virtual_out

COMPONENT_FILE = "component.yml"
_WAIT = 0.5  # seconds between re-checks while waiting for virtual input


def component_beside(fn: Callable[..., Any]) -> Path | None:
    """``component.yml`` in the directory of ``fn``'s source file, if there is one."""
    try:
        file = inspect.getsourcefile(fn)
    except TypeError:
        return None
    if not file:
        return None
    candidate = Path(file).resolve().parent / COMPONENT_FILE
    return candidate if candidate.is_file() else None


def run(worker_function: Callable[..., Any], *,
        inputs: Iterable[Iterable[Any]] | None = None,
        component: Component | Mapping[str, Any] | str | Path | None = None,
        initial_state: Any = UNSET,
        initial_pull_request: InputsPullRequest | None = None,
        use_virtual_output: bool = False,
        config: Mapping[str, Any] | None = None,
        config_file: str | Path | None = None,
        state_file: str | Path | None = None,
        virtual_input: VirtualInputStream | None = None,
        virtual_output: VirtualOutputStream | None = None,
        max_ticks: int | None = None) -> list[Any] | None:
    """Run ``worker_function`` locally and return its per-tick outputs.

    ``inputs`` holds one iterable of messages per declared input stream, in declared
    order. ``component`` is a ``component.yml`` path or mapping (default: the file next
    to the function's module, if any; otherwise the inputs are untyped). The mode
    options are those of worker-api: ``initial_state``, ``initial_pull_request`` and
    ``use_virtual_output``. ``config`` overrides config defaults, ``config_file`` is a
    JSON/YAML file watched for live updates, ``state_file`` persists a stateful
    worker's state (and resumes from it). ``virtual_input`` / ``virtual_output`` replace
    the process-wide ``virtual_in`` / ``virtual_out`` streams. Returns ``None`` (after
    recording the worker) when called while its module is loaded into a pipeline.
    """
    options: dict[str, Any] = {}
    if initial_state is not UNSET:
        options["initial_state"] = initial_state
    if initial_pull_request is not None:
        options["initial_pull_request"] = initial_pull_request
    if use_virtual_output:
        options["use_virtual_output"] = True
    if loading():
        register(worker_function, options)
        return None
    streams = None if inputs is None else [list(s) for s in inputs]
    comp, outputs_known = _component_for(worker_function, component, streams)
    if streams is None:
        streams = [[] for _ in comp.inputs]
    if len(streams) != len(comp.inputs):
        raise WorkerError(
            f"run() got {len(streams)} input stream(s) but {comp.source or 'the component'} "
            f"declares {len(comp.inputs)}", code="RET853",
            hint="pass inputs=[messages_of_input_0, messages_of_input_1, ...]")
    vin = virtual_input if virtual_input is not None else virtual_in
    vout = virtual_output if virtual_output is not None else virtual_out
    cfg = WorkerConfig(comp.config, config, watch=config_file)
    _bind_config(cfg)
    engine = WorkerEngine(
        worker_function, comp, initial_state=initial_state,
        initial_pull_request=initial_pull_request, use_virtual_output=use_virtual_output,
        cfg=cfg, vin=vin, vout=vout,
        store=StateStore(state_file) if state_file is not None else None,
        outputs_known=outputs_known)
    if engine.source:
        raise WorkerError(f"worker {engine.shape.name} has no inputs, so a local run has "
                          "nothing to drive it", code="RET853",
                          hint="give it inputs or a virtual_input parameter, or run it as "
                               "a flow under a Tick/Rate clock")
    for i, messages in enumerate(streams):
        engine.extend(i, messages)
    outputs: list[Any] = []
    try:
        while max_ticks is None or len(outputs) < max_ticks:
            closed = vin.closed  # read before planning: no push can follow a close
            plan = engine.plan()
            if plan is not None:
                outputs.append(engine.fire(plan))
                continue
            if not engine.has_virtual or closed:
                break
            if engine.plan(virtual_available=1 << 30) is None:
                break  # more virtual data would not help: a declared input ran out
            vin.wait_for_change(len(vin), timeout=_WAIT)
        if engine.use_virtual_output:
            vout.flush()
    finally:
        if engine.has_virtual and vin.closed and len(vin) == 0:
            vin.reset()  # closed and drained: open again for the next run
    return outputs


def _component_for(fn: Callable[..., Any], component: Any,
                   streams: list[list[Any]] | None) -> tuple[Component, bool]:
    if component is not None:
        return as_component(component), True
    beside = component_beside(fn)
    if beside is not None:
        return as_component(beside), True
    if streams is not None:
        return implicit_component(len(streams)), False
    shape = FunctionShape(fn)
    if shape.required:
        raise WorkerError(
            f"worker {shape.signature} takes {shape.required} input(s) but run() got no "
            "inputs and there is no component.yml", code="RET853",
            hint="pass inputs=[...] (one list per input) or wire the worker into a "
                 "pipeline with retriever.worker.as_flow(...)")
    return implicit_component(0), False


def _bind_config(cfg: WorkerConfig) -> None:
    config._bind_default(cfg)
