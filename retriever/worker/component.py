"""``component.yml``: a worker's declared input streams, output streams and config.

Shape (every key but ``worker`` is optional)::

    name: scaler
    worker:
      input_type: Double            # or input_types: [Image, Double]
      output_types: [Double, String] # or output_type: Double
    config_schema:
      factor: {type: Double, default: 2.0}
      mean: {type: "(Double, Double, Double)", default: [0.5, 0.5, 0.5]}

A stream entry is a type name (see :mod:`retriever.worker.typemap`) or a one-key
mapping ``port_name: TypeName``. Unnamed streams get the port names ``input`` /
``output`` when there is one, ``input_0``, ``input_1``, ... when there are several.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from .config import ConfigField
from .errors import ComponentError
from .typemap import resolve_type

_PORT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
StreamEntry = str | dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkerSection(_Strict):
    """The ``worker:`` section: declared input and output streams."""

    input_type: StreamEntry | None = None
    input_types: list[StreamEntry] | None = None
    output_type: StreamEntry | None = None
    output_types: list[StreamEntry] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> WorkerSection:
        if self.input_type is not None and self.input_types is not None:
            raise ValueError("give either input_type or input_types, not both")
        if self.output_type is not None and self.output_types is not None:
            raise ValueError("give either output_type or output_types, not both")
        return self


class ConfigFieldSpec(_Strict):
    """One ``config_schema`` entry."""

    type: str
    default: Any = None
    required: bool = False
    description: str = ""


class ComponentSpec(_Strict):
    """The whole ``component.yml`` document."""

    name: str | None = None
    description: str = ""
    version: str | None = None
    worker: WorkerSection
    config_schema: dict[str, ConfigFieldSpec | str] = {}


@dataclass(frozen=True)
class Port:
    """One declared stream: its port name, type name and Python type."""

    name: str
    type_name: str
    type: Any


@dataclass(frozen=True)
class Component:
    """A validated component: ports in declared order and typed config fields."""

    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    config: dict[str, ConfigField] = field(default_factory=dict)
    source: str | None = None


def _entries(one: StreamEntry | None, many: list[StreamEntry] | None) -> list[StreamEntry]:
    if one is not None:
        return [one]
    return list(many or [])


def _ports(entries: list[StreamEntry], side: str, where: str) -> tuple[Port, ...]:
    ports: list[Port] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            if len(entry) != 1:
                raise ComponentError(
                    f"{where}: worker.{side}_types[{i}] must be a type name or one "
                    f"'port_name: TypeName' pair, got {entry!r}", code="RET870")
            ((name, type_name),) = entry.items()
        else:
            name = side if len(entries) == 1 else f"{side}_{i}"
            type_name = entry
        if not _PORT.match(name):
            raise ComponentError(f"{where}: port name {name!r} is not an identifier",
                                 code="RET870", hint="use letters, digits and _")
        if any(p.name == name for p in ports):
            raise ComponentError(f"{where}: port name {name!r} is used twice in "
                                 f"worker.{side}_types", code="RET870")
        tp = resolve_type(type_name, f"{where}: worker.{side}_types[{i}]")
        ports.append(Port(name, type_name, tp))
    return tuple(ports)


def _pydantic_message(exc: PydanticValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        lines.append(f"{loc}: {err['msg']}")
    return "; ".join(lines)


def component_from_dict(data: Any, source: str | None = None,
                        default_name: str = "worker") -> Component:
    """Validate a parsed ``component.yml`` mapping (``source`` names it in errors)."""
    where = source or "component"
    if not isinstance(data, Mapping):
        raise ComponentError(f"{where}: expected a mapping with a 'worker:' section, got "
                             f"{type(data).__name__}", code="RET870")
    try:
        spec = ComponentSpec.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise ComponentError(f"{where} is invalid: {_pydantic_message(exc)}", code="RET870",
                             hint="see docs/worker.md for the component.yml format") from None
    w = spec.worker
    inputs = _ports(_entries(w.input_type, w.input_types), "input", where)
    outputs = _ports(_entries(w.output_type, w.output_types), "output", where)
    fields: dict[str, ConfigField] = {}
    for key, entry in spec.config_schema.items():
        fs = ConfigFieldSpec(type=entry) if isinstance(entry, str) else entry
        tp = resolve_type(fs.type, f"{where}: config_schema.{key}")
        fields[key] = ConfigField(key, fs.type, tp, fs.default, fs.required, fs.description)
    return Component(spec.name or default_name, inputs, outputs, fields, source)


def load_component(path: str | Path) -> Component:
    """Read and validate a ``component.yml`` file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ComponentError(f"cannot read component file {str(p)!r}: {exc.strerror}",
                             code="RET872") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ComponentError(f"{p} is not valid YAML: {exc}", code="RET870") from None
    return component_from_dict(data, str(p), default_name=p.parent.name or "worker")


def as_component(value: Component | Mapping[str, Any] | str | Path) -> Component:
    """A :class:`Component` from a file path, a mapping or a component."""
    if isinstance(value, Component):
        return value
    if isinstance(value, Mapping):
        return component_from_dict(value)
    return load_component(value)


def implicit_component(n_inputs: int, n_outputs: int | None = None) -> Component:
    """An untyped component with ``n_inputs`` inputs (for local runs without a file)."""
    ins = tuple(Port("input" if n_inputs == 1 else f"input_{i}", "Any", Any)
                for i in range(n_inputs))
    outs: tuple[Port, ...] = ()
    if n_outputs is not None:
        outs = tuple(Port("output" if n_outputs == 1 else f"output_{i}", "Any", Any)
                     for i in range(n_outputs))
    return Component("worker", ins, outs, {}, None)
