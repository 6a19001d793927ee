"""The dora backend: run an execution graph as a dora-rs dataflow.

Importing this package registers the ``"dora"`` backend; it needs neither dora nor
pyarrow until a run starts (then a missing piece raises
:class:`~retriever.contract.errors.MissingDependencyError` naming the ``dora`` extra).
Supported: dora-rs and dora-rs-cli ``>= 1.0, < 2`` with matching versions (tested with
1.1.0). See ``docs/backends-dora.md``.
"""

from __future__ import annotations

from ...execute import register_backend
from .backend import DoraRun
from .compat import SUPPORTED, check_install
from .compile import compile_dataflow, plan_dataflow

register_backend("dora", DoraRun)

__all__ = ["SUPPORTED", "DoraRun", "check_install", "compile_dataflow", "plan_dataflow"]
