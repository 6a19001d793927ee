"""``EdgeConfig``: queue size, full-queue policy and (advanced) adapter of an edge port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from retriever.contract.errors import ConfigError

from .adapter import Adapter

OnFull = Literal["drop", "block"]
DEFAULT_ON_FULL: OnFull = "drop"
_ON_FULL = {"drop": "drop", "drop_oldest": "drop", "block": "block"}


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
    on_full: str | None = None
    adapter: Adapter | None = None

    def __post_init__(self) -> None:
        if self.qsize is not None and (isinstance(self.qsize, bool)
                                       or not isinstance(self.qsize, int) or self.qsize < 1):
            raise ConfigError(f"EdgeConfig(qsize={self.qsize!r}): qsize must be an int >= 1")
        if self.on_full is not None:
            if not isinstance(self.on_full, str) or self.on_full not in _ON_FULL:
                raise ConfigError(f"EdgeConfig(on_full={self.on_full!r}) is not a policy",
                                  hint="use 'drop' (drop the oldest) or 'block'")
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
