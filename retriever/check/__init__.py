"""``retriever check``: the standalone static checker of the typing contract.

It imports the checked modules under guards (see :mod:`retriever.check.loader`), finds
every flow class and every pipeline they build or register, and reports what the rule
engine says about them. ``docs/checking.md`` describes what runs and what does not.
"""

from .engine import CheckResult, check_paths
from .report import FORMATS, render
from .sources import CheckUsageError, Source, collect_sources

__all__ = ["FORMATS", "CheckResult", "CheckUsageError", "Source", "check_paths",
           "collect_sources", "render"]
