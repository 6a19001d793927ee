"""The IR boundary: validated, serialisable graphs and execution plans."""

from retriever.flow.services import install_compiler

from .execution import as_execution_graph, build_execution
from .lower import GraphCompilerImpl, lower
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

install_compiler(GraphCompilerImpl())

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
