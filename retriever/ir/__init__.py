"""The IR boundary: validated, serialisable graphs and execution plans."""

from retriever.flow.services import register_service

from .execution import as_execution_graph, build_execution
from .lower import build_execution_service, lower, validate_service
from .model import (
    IR,
    IR_VERSION,
    AdapterIR,
    ClockIR,
    EdgeIR,
    EdgePortIR,
    ExecutionGraph,
    NodeIR,
    PartitionIR,
    PlacementIR,
    PortIR,
)
from .resolve import allow_imports, allow_source_exec, resolve_class

register_service("validate", validate_service)
register_service("build_execution", build_execution_service)

__all__ = [
    "IR",
    "IR_VERSION",
    "AdapterIR",
    "ClockIR",
    "EdgeIR",
    "EdgePortIR",
    "ExecutionGraph",
    "NodeIR",
    "PartitionIR",
    "PlacementIR",
    "PortIR",
    "allow_imports",
    "allow_source_exec",
    "as_execution_graph",
    "build_execution",
    "lower",
    "resolve_class",
]
