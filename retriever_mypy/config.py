"""Plugin options, read from the mypy configuration file.

``mypy.ini`` / ``setup.cfg``::

    [retriever_mypy]
    strict_single_io = True
    explicit_sync = True

``pyproject.toml``::

    [tool.retriever_mypy]
    strict_single_io = true
"""

from __future__ import annotations

import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retriever.contract.errors import ConfigError

SECTION = "retriever_mypy"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class PluginConfig:
    """The plugin's switches."""

    strict_single_io: bool = False
    #: ``then``/``>>`` edges need ``sync=`` or a default too (RET108), as ``connect``.
    explicit_sync: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for mypy's cache invalidation)."""
        return {"strict_single_io": self.strict_single_io,
                "explicit_sync": self.explicit_sync}


def _bool(value: object, key: str, file: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{file}: [{SECTION}] {key} = {value!r} is not a boolean",
                      hint="use true or false")


def _from_mapping(values: dict[str, Any], file: str) -> PluginConfig:
    known = {"strict_single_io", "explicit_sync"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{file}: unknown [{SECTION}] option(s): {', '.join(unknown)}",
                          hint="supported: " + ", ".join(sorted(known)))
    return PluginConfig(
        strict_single_io=_bool(values.get("strict_single_io", False), "strict_single_io",
                               file),
        explicit_sync=_bool(values.get("explicit_sync", False), "explicit_sync", file))


def read_config(config_file: str | None) -> PluginConfig:
    """The options found in ``config_file`` (defaults when absent)."""
    if not config_file:
        return PluginConfig()
    path = Path(config_file)
    if not path.is_file():
        return PluginConfig()
    if path.suffix == ".toml":
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        section = data.get("tool", {}).get(SECTION, {})
        return _from_mapping(dict(section), config_file)
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    for name in (SECTION, SECTION.replace("_", "-")):
        if parser.has_section(name):
            return _from_mapping(dict(parser.items(name)), config_file)
    return PluginConfig()
