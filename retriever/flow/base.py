"""``Flow[I, O]``: the base class of every node, and its lifecycle.

Lifecycle, identical on every backend: the flow is built from its captured constructor
arguments, then ``__lazy_init__()`` runs (if defined), then ``reset()``; ``step()`` runs
once per scheduled execution; ``finalize()`` runs when the run stops.
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from retriever.contract.errors import ConfigError
from retriever.contract.signature import Side, normalize_side

from .temporal import TemporalFlow

if TYPE_CHECKING:
    from .clock import Clock

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


class FlowSignature:
    """The normalised ``Flow[I, O]`` of a class: its input and output sides."""

    __slots__ = ("inputs", "outputs")

    def __init__(self, inputs: Side, outputs: Side) -> None:
        self.inputs = inputs
        self.outputs = outputs

    def __repr__(self) -> str:
        return f"FlowSignature(inputs={self.inputs}, outputs={self.outputs})"


def _tupleize(param: Any) -> Any:
    # Flow[(A, B), C]: a tuple literal is the same contract as tuple[A, B].
    if isinstance(param, tuple):
        return tuple.__class_getitem__(param)
    return param


def _find_signature(cls: type) -> tuple[Any, Any] | None:
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        args = typing.get_args(base)
        if origin is Flow and len(args) == 2:
            return args[0], args[1]
        if isinstance(origin, type) and issubclass(origin, Flow) and origin is not Flow:
            parent = _find_signature(origin)
            if parent is None:
                continue
            params = getattr(origin, "__parameters__", ())
            subst = dict(zip(params, args, strict=False))
            return (_substitute(parent[0], subst), _substitute(parent[1], subst))
    for base in cls.__bases__:
        if base is not Flow and isinstance(base, type) and issubclass(base, Flow):
            sig = _find_signature(base)
            if sig is not None:
                return sig
    return None


def _substitute(tp: Any, subst: dict[Any, Any]) -> Any:
    if isinstance(tp, TypeVar):
        return subst.get(tp, tp)
    args = typing.get_args(tp)
    if args and typing.get_origin(tp) is tuple:
        return tuple.__class_getitem__(tuple(_substitute(a, subst) for a in args))
    return tp


def _has_typevar(tp: Any) -> bool:
    return isinstance(tp, TypeVar) or any(_has_typevar(a) for a in typing.get_args(tp))


class Flow(Generic[I, O]):
    """A typed node: ``step`` turns one input envelope ``I`` into one output ``O``.

    ``I``/``O`` are ``@io`` classes, ``None`` (source input / sink output) or tuples of
    envelopes for composite sides: ``Flow[(A, B), C]`` equals ``Flow[tuple[A, B], C]``.
    Attach a clock with ``flow @ Rate(hz=10)`` to place it in a pipeline.
    """

    __retriever_signature__: ClassVar[FlowSignature | None] = None
    __retriever_raw_signature__: ClassVar[tuple[Any, Any] | None] = None

    def __class_getitem__(cls, params: Any) -> Any:
        if isinstance(params, tuple):
            params = tuple(_tupleize(p) for p in params)
        return super().__class_getitem__(params)  # type: ignore[misc]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        raw = _find_signature(cls)
        cls.__retriever_raw_signature__ = raw
        if raw is not None and not (_has_typevar(raw[0]) or _has_typevar(raw[1])):
            cls.__retriever_signature__ = FlowSignature(
                normalize_side(raw[0]), normalize_side(raw[1]))
        else:
            cls.__retriever_signature__ = None
        own = cls.__dict__
        if "run" in own and not _defines_below_flow(cls, "step"):
            warnings.warn(
                f"{cls.__qualname__} defines run(); rename it to step() "
                "(run() is a deprecated alias)", DeprecationWarning, stacklevel=2)
            cls.step = _step_via_run  # type: ignore[method-assign]
        if "init" in own and not _defines_below_flow(cls, "reset"):
            warnings.warn(
                f"{cls.__qualname__} defines init(); rename it to reset() "
                "(init() is a deprecated alias)", DeprecationWarning, stacklevel=2)
            cls.reset = _reset_via_init  # type: ignore[method-assign]

    def __new__(cls, *args: Any, **kwargs: Any) -> Flow[I, O]:
        self = super().__new__(cls)
        # Captured so any backend can rebuild this flow from the IR in another process.
        self.__dict__["_retriever_init_args"] = (args, kwargs)
        return self

    # ------------------------------------------------------------------ lifecycle
    def step(self, input: I) -> O | None:
        """Compute one output from one sampled input (``None``: publish nothing)."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement step()")

    def reset(self) -> None:
        """Reset per-run state; called after ``__lazy_init__`` before the first step."""

    def finalize(self) -> None:
        """Release resources; called once when the run stops."""

    def init(self) -> None:
        """Deprecated alias of :meth:`reset`."""
        warnings.warn("Flow.init() is deprecated; call reset()", DeprecationWarning,
                      stacklevel=2)
        self.reset()

    def run(self, input: I) -> O | None:
        """Deprecated alias of :meth:`step`."""
        warnings.warn("Flow.run() is deprecated; call step()", DeprecationWarning,
                      stacklevel=2)
        return self.step(input)

    # ------------------------------------------------------------------ authoring
    def __matmul__(self, clock: Clock) -> TemporalFlow:
        return TemporalFlow(self, clock)

    @classmethod
    def signature(cls) -> FlowSignature:
        """The normalised signature; raises if the class has no concrete ``Flow[I, O]``."""
        sig = cls.__retriever_signature__
        if sig is None:
            raise ConfigError(
                f"{cls.__qualname__} has no concrete Flow[I, O] signature",
                hint="subclass Flow[InputEnvelope, OutputEnvelope] (None for none)")
        return sig

    def init_config(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The constructor arguments this flow was built with: ``(args, kwargs)``.

        Override it to rebuild the flow in a worker from other arguments; return
        ``(args, kwargs)``, or just a mapping of keyword arguments.
        """
        args, kwargs = self.__dict__.get("_retriever_init_args", ((), {}))
        return tuple(args), dict(kwargs)


def init_arguments(flow: Flow[Any, Any], name: str | None = None,
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``flow.init_config()`` checked and normalised to ``(args, kwargs)``.

    A mapping is taken as keyword arguments. Anything else raises :class:`ConfigError`
    (RET109) naming the flow, what ``init_config`` returned and what it must return.
    """
    got: Any = flow.init_config()
    args: Any
    kwargs: Any
    if isinstance(got, Mapping):
        args, kwargs = (), got
    elif isinstance(got, tuple) and len(got) == 2:
        args, kwargs = got
    else:
        args, kwargs = None, None
    ok = (isinstance(args, (tuple, list)) and isinstance(kwargs, Mapping)
          and all(isinstance(k, str) for k in kwargs))
    if not ok:
        label = name or type(flow).__qualname__
        text = repr(got)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(
            f"{label}: {type(flow).__qualname__}.init_config() returned "
            f"{type(got).__name__} {text}; expected (args, kwargs) or a dict of keyword "
            "arguments",
            hint="return (args, kwargs): a tuple of positional arguments and a dict of "
                 "keyword arguments by name, e.g. ((), {'gain': 2.0}), or a dict of "
                 "keyword arguments alone",
            code="RET109")
    return tuple(args), dict(kwargs)


def _defines_below_flow(cls: type, name: str) -> bool:
    return any(name in klass.__dict__ for klass in cls.__mro__ if klass is not Flow
               and issubclass(klass, Flow))


def _step_via_run(self: Any, input: Any) -> Any:
    return type(self).run(self, input)


def _reset_via_init(self: Any) -> None:
    type(self).init(self)
