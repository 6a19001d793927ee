"""Process-wide authoring defaults set by :func:`retriever.init`."""

from __future__ import annotations

from dataclasses import dataclass

from retriever.contract.errors import ConfigError

from .adapter import Adapter
from .clock import normalize_on_lag


@dataclass
class Settings:
    """Current defaults. ``default_sync`` is None unless ``init`` set one."""

    default_sync: Adapter | None = None
    default_on_lag: str | None = None


_SETTINGS = Settings()
_UNSET = object()


def init(default_sync: object = _UNSET, default_on_lag: object = _UNSET) -> Settings:
    """Set process-wide defaults for notebooks and REPL work.

    ``default_sync`` is used by connections that pass no ``sync=``; ``default_on_lag``
    applies to clocks that set no ``on_lag``. Pass ``None`` to clear a default. Shared
    examples and libraries should pass ``sync=`` explicitly instead.
    """
    if default_sync is not _UNSET:
        if default_sync is not None and not isinstance(default_sync, Adapter):
            raise ConfigError(f"default_sync={default_sync!r} is not an Adapter",
                              hint="pass an adapter instance such as Latest()")
        _SETTINGS.default_sync = default_sync
    if default_on_lag is not _UNSET:
        if default_on_lag is not None and not isinstance(default_on_lag, str):
            raise ConfigError("default_on_lag must be a policy name")
        _SETTINGS.default_on_lag = normalize_on_lag(default_on_lag)
    return _SETTINGS


def settings() -> Settings:
    """The current process-wide defaults."""
    return _SETTINGS
