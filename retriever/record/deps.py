"""Lazy imports of the optional recording dependencies (rerun-sdk, mcap)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from retriever.contract.errors import MissingDependencyError


def rerun(purpose: str) -> Any:
    """The ``rerun`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module("rerun")
    except ImportError:
        raise MissingDependencyError("rerun-sdk", "record", purpose) from None


def rerun_chunk(purpose: str) -> Any:
    """``rerun.chunk`` (rerun's current reading API)."""
    rerun(purpose)
    return importlib.import_module("rerun.chunk")


def mcap(purpose: str, module: str = "writer") -> Any:
    """A submodule of the ``mcap`` package (``writer``, ``stream_reader``, ...)."""
    try:
        return importlib.import_module(f"mcap.{module}")
    except ImportError:
        raise MissingDependencyError("mcap", "record", purpose) from None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module blanked out in sys.modules
        return False


def require(fmt: str, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` now if format ``fmt`` ("rrd"/"mcap") cannot
    be written here, without importing anything (used before a writer process starts)."""
    package, module = ("rerun-sdk", "rerun") if fmt == "rrd" else ("mcap", "mcap")
    if not _installed(module):
        raise MissingDependencyError(package, "record", purpose)


def has_rerun() -> bool:
    """Whether rerun-sdk can be imported (without importing it twice)."""
    return importlib.util.find_spec("rerun") is not None
