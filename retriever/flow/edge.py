"""``EdgeConfig``: queue size, full-queue policy and (advanced) adapter of an edge port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from retriever.contract.errors import ConfigError
from retriever.contract.values import ON_FULL, on_full_problem, qsize_problem

from .adapter import Adapter
from .context import value_problem

OnFull = Literal["drop", "block"]
DEFAULT_ON_FULL: OnFull = "drop"
_ON_FULL = ON_FULL
#: Every spelling ``on_full=`` accepts (mypy checks literal values).
OnFullName = Literal["drop", "drop_oldest", "block"]


@dataclass(frozen=True)
class EdgeConfig:
    """Per-port queue policy of a connection.

    ``qsize`` bounds the buffered history of the port; ``on_full="drop"`` (default)
    drops the *oldest* message when full, so ``Latest()`` always sees the newest;
    ``on_full="block"`` makes the publisher wait (backpressure). ``adapter`` overrides
    the sampling adapter; prefer ``sync=...`` and never set both for one port.
    Unset fields inherit from the ``"*"`` entry, then from the defaults: ``on_full="drop"``
    and a history of 2 messages for adapters that read only the newest value (``Latest``,
    ``Hold``, ``Chunking``) or 64 for the others (``Window``, ``Events``, ``Exact``,
    ``Linear``); see ``Adapter.default_history``.
    """

    qsize: int | None = None
    on_full: OnFullName | None = None
    adapter: Adapter | None = None

    def __post_init__(self) -> None:
        if value_problem(qsize_problem(self.qsize)):
            object.__setattr__(self, "qsize", None)
        if self.on_full is not None:
            if value_problem(on_full_problem(self.on_full)):
                object.__setattr__(self, "on_full", None)
            else:
                object.__setattr__(self, "on_full", _ON_FULL[self.on_full])
        if self.adapter is not None and not isinstance(self.adapter, Adapter):
            raise ConfigError(f"EdgeConfig(adapter={self.adapter!r}) is not an Adapter")

    def merged_over(self, base: EdgeConfig | None) -> EdgeConfig:
        """This config with unset fields taken from ``base``."""
        if base is None:
            return self
        return EdgeConfig(
            self.qsize if self.qsize is not None else base.qsize,
            self.on_full if self.on_full is not None else base.on_full,
            self.adapter if self.adapter is not None else base.adapter,
        )


def check_edge_config(value: Any) -> dict[str, EdgeConfig]:
    """Validate the ``edge_config=`` argument of ``connect``."""
    if value is None:
        return {}
    if isinstance(value, EdgeConfig):
        return {"*": value}
    if not isinstance(value, Mapping):
        raise ConfigError("edge_config must be an EdgeConfig or a dict of port -> EdgeConfig")
    out: dict[str, EdgeConfig] = {}
    for key, cfg in value.items():
        if not isinstance(key, str) or not isinstance(cfg, EdgeConfig):
            raise ConfigError(f"edge_config entry {key!r}: expected str -> EdgeConfig")
        out[key] = cfg
    return out
