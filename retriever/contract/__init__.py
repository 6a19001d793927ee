"""The typing contract: envelopes, signatures, ports, rules and diagnostics.

This layer imports nothing else from retriever; every front end builds on it.
"""

from .catalogue import RULES, Rule, rule
from .composite import CompositeView
from .diagnostics import Diagnostic, Location, Severity
from .envelope import envelope_field_types, envelope_ports, io, is_envelope
from .errors import (
    AmbiguousFieldError,
    BackendError,
    ConfigError,
    ContractError,
    FlowError,
    IRError,
    LagError,
    MissingDependencyError,
    RetrieverError,
    ValidationError,
)
from .model import EdgeDesc, ElementKind, EnvelopeDesc, FlowDesc, SideDesc
from .ports import PortTable
from .rules import RuleOptions, check_fan_in, check_flow, resolve_edge
from .signature import Side, describe_side, normalize_side

__all__ = [
    "RULES",
    "AmbiguousFieldError",
    "BackendError",
    "CompositeView",
    "ConfigError",
    "ContractError",
    "Diagnostic",
    "EdgeDesc",
    "ElementKind",
    "EnvelopeDesc",
    "FlowDesc",
    "FlowError",
    "IRError",
    "LagError",
    "Location",
    "MissingDependencyError",
    "PortTable",
    "RetrieverError",
    "Rule",
    "RuleOptions",
    "Severity",
    "Side",
    "SideDesc",
    "ValidationError",
    "check_fan_in",
    "check_flow",
    "describe_side",
    "envelope_field_types",
    "envelope_ports",
    "io",
    "is_envelope",
    "normalize_side",
    "resolve_edge",
    "rule",
]
