"""Worker flows: a function worker as a typed ``Flow`` that runs on every backend.

:func:`as_flow` returns an instance of a class generated from the component's declared
streams: its input envelope has one port per declared input, its output envelope one
port per declared output (``list[T]`` ports in streaming mode, one list per tick). The
generated classes live in :mod:`retriever.worker.generated` under names that encode
everything needed to rebuild them, so a process backend re-creates them by name from
the IR; the constructor arguments are plain data (a function reference
``"package.module:function"``, the component path and the options).

Each step feeds what the flow sampled into the worker's input queues (a :class:`Stream`
adapter hands over every new message; any other adapter one value per step), forms at
most one tick and publishes its output.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import types
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from retriever.contract.envelope import io
from retriever.flow.base import Flow
from retriever.flow.stream import StreamBatch
from retriever.ir.resolve import allow_imports, from_ir, trusted_code

from .component import Component, Port, as_component, component_from_dict
from .config import WorkerConfig, config
from .engine import UNSET, FunctionShape, WorkerEngine, fn_name
from .errors import WorkerError
from .loader import fn_ref, load
from .local import COMPONENT_FILE, component_beside
from .persist import StateStore, default_state_file
from .streams import virtual_in, virtual_out
from .typemap import coerce_output

GENERATED = "retriever.worker.generated"
DEFAULT_BACKLOG = 256
FLUSH_TIMEOUT = 10.0
_ROLES = ("Flow", "In", "Out")
_classes: dict[str, type] = {}


class WorkerFlowBase:
    """Behaviour shared by every generated worker flow class.

    Constructor arguments (all plain data): ``fn`` the function reference, ``component``
    the component path (or mapping), ``source_file`` for functions of a ``__main__``
    script, and the options: ``initial_state``, ``initial_pull_request``,
    ``use_virtual_output``, ``config`` (overrides), ``config_file`` (watched for live
    updates), ``state_file`` / ``persist_state`` (stateful workers), ``max_backlog``
    (queued messages kept per input; the oldest are dropped beyond it), ``name`` and
    ``virtual_source``: a reference to a function started on a thread in the process
    that runs the flow, to feed ``virtual_in`` there (module-level producer threads run
    only in the process that imported the module).
    """

    __worker_component__: Component
    __worker_streaming__: bool

    def __init__(self, fn: str, component: str | Mapping[str, Any], *,
                 source_file: str | None = None, name: str | None = None,
                 initial_state: Any = UNSET, initial_pull_request: Any = None,
                 use_virtual_output: bool = False,
                 config: Mapping[str, Any] | None = None,
                 config_file: str | None = None, state_file: str | None = None,
                 persist_state: bool = True, max_backlog: int = DEFAULT_BACKLOG,
                 virtual_source: str | None = None) -> None:
        self.fn_ref = fn
        self.source_file = source_file
        self.component = as_component(component)
        self.name = name or _default_name(fn)
        self.options: dict[str, Any] = {}
        if initial_state is not UNSET:
            self.options["initial_state"] = initial_state
        if initial_pull_request is not None:
            self.options["initial_pull_request"] = initial_pull_request
        if use_virtual_output:
            self.options["use_virtual_output"] = True
        self.config = WorkerConfig(self.component.config, config, watch=config_file)
        self.state_file = state_file
        self.persist_state = persist_state
        self.max_backlog = max_backlog
        self.dropped = 0
        self.virtual_source = virtual_source
        self._source_thread: threading.Thread | None = None
        self.engine: WorkerEngine | None = None
        self._fn: Callable[..., Any] | None = None

    # ------------------------------------------------------------------ lifecycle
    def __lazy_init__(self) -> None:
        """Load the worker function (importing its module with ``run()`` recorded)."""
        reg = load(self.fn_ref, self.source_file)
        self._fn = reg.fn
        self.options = {**reg.options, **self.options}
        if self.virtual_source is not None and self._source_thread is None:
            producer = load(self.virtual_source, self.source_file).fn
            self._source_thread = threading.Thread(target=producer, daemon=True,
                                                   name=f"retriever-source-{self.name}")
            self._source_thread.start()

    def reset(self) -> None:
        """Fresh input queues; a stateful worker resumes from its state file."""
        if self._fn is None:
            self.__lazy_init__()
        assert self._fn is not None
        store = None
        if self.persist_state and FunctionShape(self._fn).has_state:
            path = self.state_file or default_state_file(
                f"{self.component.name}-{self.fn_ref}")
            store = StateStore(path)
        config._bind_default(self.config)
        self.engine = WorkerEngine(
            self._fn, self.component, cfg=self.config, vin=virtual_in, vout=virtual_out,
            store=store, **self.options)
        self.dropped = 0

    def step(self, input: Any) -> Any:
        """Queue the sampled messages, run at most one tick, publish its output."""
        engine = self.engine
        if engine is None:
            raise WorkerError("worker flow stepped before reset()", code="RET851")
        if input is not None:
            for i, port in enumerate(self.component.inputs):
                value = getattr(input, port.name)
                if value is None:
                    continue
                if isinstance(value, StreamBatch):
                    engine.extend(i, value)
                else:
                    engine.push(i, value)
                q = engine.queues[i]
                while len(q) > self.max_backlog:
                    q.popleft()
                    self.dropped += 1
        plan = engine.plan()
        if plan is None:
            return None
        return self._envelope(engine.fire(plan))

    def finalize(self) -> None:
        """Hand every queued virtual-output message to its callback."""
        if self.engine is not None and self.engine.use_virtual_output and not (
                virtual_out.flush(timeout=FLUSH_TIMEOUT)):
            raise WorkerError(f"virtual-output messages of {self.name} were still undelivered "
                              f"{FLUSH_TIMEOUT:.0f} s after the run stopped", code="RET881",
                              hint="make the virtual_out callback (and its acks) faster")

    def _envelope(self, out: Any) -> Any:
        ports = self.component.outputs
        if not ports or out is None:
            return None
        values = list(out) if len(ports) > 1 else [out]
        fields = {}
        for port, value in zip(ports, values, strict=True):
            if value is None or (self.__worker_streaming__ and value == []):
                continue
            where = f"{self.name}.{port.name}"
            fields[port.name] = ([coerce_output(port.type, v, where) for v in value]
                                 if self.__worker_streaming__ else
                                 coerce_output(port.type, value, where))
        if not fields:
            return None
        cls = _classes[_role_name(type(self).__qualname__, "Out")]
        return cls(**fields)


def _default_name(ref: str) -> str:
    tail = ref.split(":", 1)[-1].rsplit(".", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_]", "_", tail) or "worker"


# ------------------------------------------------------------------ generated classes


def _key(fn: str, source: str | None, comp: Component, streaming: bool) -> str:
    doc = {"f": fn, "src": source, "n": comp.name, "s": streaming,
           "i": [[p.name, p.type_name] for p in comp.inputs],
           "o": [[p.name, p.type_name] for p in comp.outputs]}
    raw = zlib.compress(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), 9)
    return base64.b32encode(raw).decode().rstrip("=").lower()


def _decode_key(key: str) -> dict[str, Any]:
    pad = "=" * (-len(key) % 8)
    data: dict[str, Any] = json.loads(zlib.decompress(base64.b32decode(key.upper() + pad)))
    return data


def _prefix(comp: Component) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "_", comp.name).strip("_") or "Worker"
    return "".join(part[:1].upper() + part[1:] for part in text.split("_"))


def _role_name(flow_name: str, role: str) -> str:
    return flow_name.rsplit("__", 1)[0] + "__" + role


def _envelope(name: str, ports: tuple[Port, ...], streaming: bool) -> type | None:
    if not ports:
        return None
    ann = {p.name: (list[p.type] if streaming else p.type)  # type: ignore[name-defined]
           for p in ports}
    cls = type(name, (), {"__annotations__": ann, "__module__": GENERATED,
                          "__qualname__": name,
                          "__doc__": f"Generated worker envelope {name}."})
    return io(cls)


def _build(fn: str, source: str | None, comp: Component, streaming: bool) -> type:
    base = f"{_prefix(comp)}__{_key(fn, source, comp, streaming)}"
    flow_name = base + "__Flow"
    cached = _classes.get(flow_name)
    if cached is not None:
        return cached
    in_cls = _envelope(base + "__In", comp.inputs, False)
    out_cls = _envelope(base + "__Out", comp.outputs, streaming)

    def body(ns: dict[str, Any]) -> None:
        ns.update({"__module__": GENERATED, "__qualname__": flow_name,
                   "__worker_component__": comp, "__worker_streaming__": streaming,
                   "__doc__": f"Worker flow of {fn} ({comp.name})."})

    flow_base: Any = Flow[in_cls, out_cls]  # type: ignore[valid-type]
    cls = types.new_class(flow_name, (WorkerFlowBase, flow_base), {}, body)
    _classes[flow_name] = cls
    if in_cls is not None:
        _classes[base + "__In"] = in_cls
    if out_cls is not None:
        _classes[base + "__Out"] = out_cls
    return cls


def generated_class(name: str) -> type:
    """Rebuild (or return) the generated class called ``name`` (used by the IR loader)."""
    cached = _classes.get(name)
    if cached is not None:
        return cached
    _prefix_part, sep, rest = name.partition("__")
    key, sep2, role = rest.rpartition("__")
    if not (sep and sep2) or role not in _ROLES:
        raise AttributeError(f"module {GENERATED!r} has no attribute {name!r}")
    try:
        doc = _decode_key(key)
    except (ValueError, zlib.error) as exc:
        raise AttributeError(f"{name!r} is not a generated worker class name: {exc}"
                             ) from None
    with from_ir():  # the name came from an IR: its component's types are data too
        return _rebuild_generated(name, doc)


def _rebuild_generated(name: str, doc: dict[str, Any]) -> type:
    load(doc["f"], doc["src"])  # imports the worker module (and the types it registers)
    comp = component_from_dict({"name": doc["n"], "worker": {
        "input_types": [{n: t} for n, t in doc["i"]],
        "output_types": [{n: t} for n, t in doc["o"]]}})
    _build(doc["f"], doc["src"], comp, bool(doc["s"]))
    try:
        return _classes[name]
    except KeyError:
        raise AttributeError(f"module {GENERATED!r} has no attribute {name!r}") from None


def _find_component(path: str | Path, fn: Callable[..., Any] | None) -> str:
    p = Path(path)
    if p.is_absolute() or p.exists() or fn is None:
        return str(p.resolve())
    beside = component_beside(fn)
    if beside is not None and Path(path).name == COMPONENT_FILE:
        return str(beside)
    return str(p.resolve())


def as_flow(fn: Callable[..., Any] | str, component: str | Path | Mapping[str, Any] | None
            = None, **options: Any) -> Any:
    """A worker as a flow instance ready for ``flow @ clock`` in a Pipeline.

    ``fn`` is the worker function or its reference ``"package.module:function"`` (or
    ``"package.module"`` whose import calls ``run(fn, ...)``; the options it passed are
    used unless overridden here). ``component`` is the ``component.yml`` path (default:
    the file next to the function's module) or a mapping. ``options`` are those of
    :class:`WorkerFlowBase`; they must be plain data (JSON-able, or pull-request
    objects) so that process backends can rebuild the flow.
    """
    with trusted_code():  # names given here in code, not read from a file
        return _as_flow(fn, component, options)


def _as_flow(fn: Callable[..., Any] | str,
             component: str | Path | Mapping[str, Any] | None, options: dict[str, Any]
             ) -> Any:
    source: str | None = options.pop("source_file", None)
    fn_obj: Callable[..., Any] | None = None
    if isinstance(fn, str):
        ref = fn
        # Naming the module here, in code, is the user's own choice: the flow may import
        # it wherever it runs (an IR read from a file could not grant that itself).
        allow_imports([ref.split(":", 1)[0]])
    else:
        fn_obj = fn
        ref, source = fn_ref(fn)
    if component is None:
        if fn_obj is None:
            fn_obj = load(ref, source).fn
        beside = component_beside(fn_obj)
        if beside is None:
            raise WorkerError(f"no component given for worker {fn_name(fn_obj)} and no "
                              f"{COMPONENT_FILE} next to its module", code="RET872",
                              hint="pass component='path/to/component.yml'")
        comp_arg: str | Mapping[str, Any] = str(beside)
    elif isinstance(component, Mapping):
        comp_arg = dict(component)
    else:
        comp_arg = _find_component(component, fn_obj)
    comp = as_component(comp_arg)
    streaming = options.get("initial_pull_request") is not None
    if not streaming and "initial_pull_request" not in options and fn_obj is None:
        streaming = load(ref, source).options.get("initial_pull_request") is not None
    vsource = options.get("virtual_source")
    if isinstance(vsource, str):
        allow_imports([vsource.split(":", 1)[0]])
    cls = _build(ref, source, comp, streaming)
    if source is not None:
        options["source_file"] = source
    return cls(ref, comp_arg, **options)
