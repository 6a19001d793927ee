"""``retriever check``: the standalone static checker of the typing contract.

It imports the checked modules under guards (see :mod:`retriever.check.loader`), finds
every flow class and every pipeline they build or register, and reports what the rule
engine says about them. ``docs/checking.md`` describes what runs and what does not.
"""

from typing import Any

from .report import FORMATS, render
from .result import CheckResult
from .sources import CheckUsageError, Source, collect_sources

__all__ = ["FORMATS", "CheckResult", "CheckUsageError", "Source", "check_paths",
           "collect_sources", "render"]


def __getattr__(name: str) -> Any:
    # The engine imports the whole authoring layer; the CLI's parent process, which only
    # starts the isolated check and renders its result, never needs it.
    if name == "check_paths":
        from .engine import check_paths

        return check_paths
    raise AttributeError(f"module 'retriever.check' has no attribute {name!r}")
