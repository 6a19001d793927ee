"""Clocks decide *when* a flow runs (adapters decide *what* it sees).

``Rate`` runs periodically and samples every connected input; ``Tick`` runs
periodically and samples nothing; ``Trigger`` runs on a new arrival on one of its
fields and samples those fields; ``Hybrid`` runs periodically or on a trigger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from retriever.contract.errors import ConfigError
from retriever.contract.values import LAG_ALIASES, LAG_POLICIES, hz_problem, on_lag_problem

from .context import value_problem

#: Canonical lag policies.
OnLag = Literal["warn", "drop", "error", "catch_up"]
#: Every spelling ``on_lag=`` accepts: the policies and their aliases (mypy checks it).
OnLagName = Literal["warn", "drop", "error", "catch_up", "panic", "raise", "strict", "catchup"]


def normalize_on_lag(value: str | None) -> str | None:
    """Canonical lag policy (aliases resolved); ``None`` stays unset.

    While a checked module loads, a bad value is recorded and treated as unset.
    """
    if value is None or value_problem(on_lag_problem(value)):
        return None
    return LAG_ALIASES.get(value, value)


def _check_hz(hz: float, clock: str) -> float:
    if value_problem(hz_problem(hz, clock)):
        return 1.0  # stand-in while collecting: the problem is already recorded
    return float(hz)


def _check_wait(value: Any, clock: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{clock}(wait_for_inputs={value!r}) is not True or False")
    return value


def _check_fields(fields: tuple[Any, ...], clock: str) -> tuple[str, ...]:
    for f in fields:
        if not isinstance(f, str) or not f:
            raise ConfigError(f"{clock} field {f!r} is not a port name",
                              hint=f'name input ports as strings: {clock}("image")')
    return fields


class Clock:
    """Base class of clocks."""

    kind: ClassVar[str] = ""
    periodic: ClassVar[bool] = False

    hz: float | None
    on_lag: str | None
    trigger: tuple[str, ...]
    #: Start-up: a sample-all clock first runs once every connected input has a value.
    wait_for_inputs: bool = True

    @property
    def period(self) -> float | None:
        """Seconds between periodic runs (None for pure triggers)."""
        return 1.0 / self.hz if self.hz else None

    def to_config(self) -> dict[str, Any]:
        """JSON-able description used by the IR."""
        cfg: dict[str, Any] = {"kind": self.kind, "hz": self.hz, "on_lag": self.on_lag,
                               "trigger": list(self.trigger)}
        if not self.wait_for_inputs:
            cfg["wait_for_inputs"] = False
        return cfg

    def with_on_lag(self, on_lag: str) -> Clock:
        """A copy whose lag policy is ``on_lag`` if none was set explicitly."""
        return self if self.on_lag is not None else clock_from_config(
            {**self.to_config(), "on_lag": on_lag})


@dataclass(frozen=True, init=False)
class Rate(Clock):
    """Run at ``hz`` times per second, sampling every connected input.

    ``on_lag`` decides what happens to missed ticks: ``warn`` (default), ``drop``,
    ``error`` (aliases ``panic``, ``raise``, ``strict``) or ``catch_up``. The first run
    waits until every connected input has received a value; ``wait_for_inputs=False``
    runs from the first tick (ports without a value are then ``None``).
    """

    kind: ClassVar[str] = "rate"
    periodic: ClassVar[bool] = True
    hz: float
    on_lag: str | None
    trigger: tuple[str, ...]
    wait_for_inputs: bool

    def __init__(self, hz: float, on_lag: OnLagName | None = None, *,
                 wait_for_inputs: bool = True) -> None:
        object.__setattr__(self, "hz", _check_hz(hz, "Rate"))
        object.__setattr__(self, "on_lag", normalize_on_lag(on_lag))
        object.__setattr__(self, "trigger", ())
        object.__setattr__(self, "wait_for_inputs", _check_wait(wait_for_inputs, "Rate"))


@dataclass(frozen=True, init=False)
class Tick(Clock):
    """Run at ``hz`` times per second without sampling any input."""

    kind: ClassVar[str] = "tick"
    periodic: ClassVar[bool] = True
    hz: float
    on_lag: str | None
    trigger: tuple[str, ...]

    def __init__(self, hz: float, on_lag: OnLagName | None = None) -> None:
        object.__setattr__(self, "hz", _check_hz(hz, "Tick"))
        object.__setattr__(self, "on_lag", normalize_on_lag(on_lag))
        object.__setattr__(self, "trigger", ())


@dataclass(frozen=True, init=False)
class Trigger(Clock):
    """Run whenever a new message arrives on one of ``fields``; sample those fields."""

    kind: ClassVar[str] = "trigger"
    hz: float | None
    on_lag: str | None
    trigger: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        if not fields:
            raise ConfigError("Trigger() needs at least one field",
                              hint='name the input port(s) that start a run: Trigger("image")')
        object.__setattr__(self, "hz", None)
        object.__setattr__(self, "on_lag", None)
        object.__setattr__(self, "trigger", _check_fields(tuple(fields), "Trigger"))


@dataclass(frozen=True, init=False)
class Hybrid(Clock):
    """Run at ``hz`` and also whenever a message arrives on a ``trigger`` field.

    Every run samples all connected inputs, and the first one waits until each has a
    value (``wait_for_inputs=False`` opts out, as for :class:`Rate`).
    """

    kind: ClassVar[str] = "hybrid"
    periodic: ClassVar[bool] = True
    hz: float
    on_lag: str | None
    trigger: tuple[str, ...]
    wait_for_inputs: bool

    def __init__(self, hz: float, trigger: Iterable[str] = (),
                 on_lag: OnLagName | None = None, *, wait_for_inputs: bool = True) -> None:
        object.__setattr__(self, "wait_for_inputs", _check_wait(wait_for_inputs, "Hybrid"))
        if isinstance(trigger, str):
            fields: tuple[Any, ...] = (trigger,)
        elif isinstance(trigger, Iterable):
            fields = tuple(trigger)
        else:
            raise ConfigError(f"Hybrid(trigger={trigger!r}): trigger must name input ports",
                              hint='pass a name or a list of names: Hybrid(10, trigger="cmd")')
        if not fields:
            raise ConfigError("Hybrid(...) needs at least one trigger field",
                              hint="use Rate(hz) for a purely periodic flow")
        object.__setattr__(self, "hz", _check_hz(hz, "Hybrid"))
        object.__setattr__(self, "on_lag", normalize_on_lag(on_lag))
        object.__setattr__(self, "trigger", _check_fields(fields, "Hybrid"))


def clock_from_config(cfg: dict[str, Any]) -> Clock:
    """Rebuild a clock from :meth:`Clock.to_config` output."""
    kind = cfg.get("kind")
    wait = bool(cfg.get("wait_for_inputs", True))
    if kind == "rate":
        return Rate(cfg["hz"], on_lag=cfg.get("on_lag"), wait_for_inputs=wait)
    if kind == "tick":
        return Tick(cfg["hz"], on_lag=cfg.get("on_lag"))
    if kind == "trigger":
        return Trigger(*cfg["trigger"])
    if kind == "hybrid":
        return Hybrid(cfg["hz"], trigger=cfg["trigger"], on_lag=cfg.get("on_lag"),
                      wait_for_inputs=wait)
    raise ConfigError(f"unknown clock kind {kind!r}", hint="use rate, tick, trigger or hybrid")


__all__ = ["LAG_ALIASES", "LAG_POLICIES", "Clock", "Hybrid", "OnLag", "OnLagName", "Rate", "Tick",
           "Trigger", "clock_from_config", "normalize_on_lag"]
