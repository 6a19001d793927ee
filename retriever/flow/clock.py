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

OnLag = Literal["warn", "drop", "error", "catch_up"]
LAG_POLICIES: tuple[str, ...] = ("warn", "drop", "error", "catch_up")
LAG_ALIASES = {"panic": "error", "raise": "error", "strict": "error", "catchup": "catch_up"}


def normalize_on_lag(value: str | None) -> str | None:
    """Canonical lag policy (aliases resolved); ``None`` stays unset."""
    if value is None:
        return None
    v = LAG_ALIASES.get(value, value)
    if v not in LAG_POLICIES:
        raise ConfigError(
            f"unknown on_lag policy {value!r}",
            hint="use one of warn, drop, error (aliases panic, raise, strict) or catch_up",
        )
    return v


def _check_hz(hz: float, clock: str) -> float:
    try:
        value = float(hz)
    except (TypeError, ValueError):
        raise ConfigError(f"{clock}(hz={hz!r}): hz must be a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{clock}(hz={hz!r}): hz must be a positive finite number")
    return value


class Clock:
    """Base class of clocks."""

    kind: ClassVar[str] = ""
    periodic: ClassVar[bool] = False

    hz: float | None
    on_lag: str | None
    trigger: tuple[str, ...]
    #: Start-up: a sample-all clock first runs once every connected input has a value.
    wait_for_inputs: bool = True

    def samples_all(self) -> bool:
        """Whether a periodic run samples every connected input."""
        return self.kind in ("rate", "hybrid")

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

    def __init__(self, hz: float, on_lag: str | None = None, *,
                 wait_for_inputs: bool = True) -> None:
        object.__setattr__(self, "hz", _check_hz(hz, "Rate"))
        object.__setattr__(self, "on_lag", normalize_on_lag(on_lag))
        object.__setattr__(self, "trigger", ())
        object.__setattr__(self, "wait_for_inputs", bool(wait_for_inputs))


@dataclass(frozen=True, init=False)
class Tick(Clock):
    """Run at ``hz`` times per second without sampling any input."""

    kind: ClassVar[str] = "tick"
    periodic: ClassVar[bool] = True
    hz: float
    on_lag: str | None
    trigger: tuple[str, ...]

    def __init__(self, hz: float, on_lag: str | None = None) -> None:
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
        for f in fields:
            if not isinstance(f, str):
                raise ConfigError(f"Trigger field {f!r} is not a port name string")
        object.__setattr__(self, "hz", None)
        object.__setattr__(self, "on_lag", None)
        object.__setattr__(self, "trigger", tuple(fields))


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

    def __init__(self, hz: float, trigger: Iterable[str] = (), on_lag: str | None = None, *,
                 wait_for_inputs: bool = True) -> None:
        object.__setattr__(self, "wait_for_inputs", bool(wait_for_inputs))
        fields = (trigger,) if isinstance(trigger, str) else tuple(trigger)
        if not fields:
            raise ConfigError("Hybrid(...) needs at least one trigger field",
                              hint="use Rate(hz) for a purely periodic flow")
        object.__setattr__(self, "hz", _check_hz(hz, "Hybrid"))
        object.__setattr__(self, "on_lag", normalize_on_lag(on_lag))
        object.__setattr__(self, "trigger", fields)


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


__all__ = ["Clock", "Hybrid", "OnLag", "Rate", "Tick", "Trigger", "clock_from_config",
           "normalize_on_lag"]
