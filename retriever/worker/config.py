"""``config``: the worker's configuration, typed from the component's ``config_schema``.

Each schema entry becomes an attribute whose value is converted to the declared type
(``Double`` -> ``float``, ``(Double, Double, Double)`` -> a tuple of floats, ...). Live
updates come from :meth:`WorkerConfig.update` (any thread, e.g. a test or an operator
tool in the same process) or from a watched JSON/YAML file (``config_file=``, the way to
reach a worker running in another process). Values change as soon as an update arrives;
:meth:`WorkerConfig.sync` returns the keys that changed since the previous call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import WorkerError


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One schema entry: its declared type name, Python type and default."""

    name: str
    type_name: str
    type: Any
    default: Any = None
    required: bool = False
    description: str = ""


def convert_value(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to ``tp``; raises ``WorkerError`` (RET882) when it cannot be."""
    if value is None or tp is Any:
        return value
    origin = typing.get_origin(tp)
    try:
        if tp is float:
            if isinstance(value, bool):
                raise TypeError("a bool is not a number")
            return float(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError(f"{value!r} is not an integer")
            return int(value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise TypeError(f"{value!r} is not a bool")
        if tp is str:
            if not isinstance(value, str | int | float):
                raise TypeError(f"{value!r} is not a string")
            return str(value)
        if tp is bytes:
            return value.encode() if isinstance(value, str) else bytes(value)
        if tp is np.ndarray:
            return np.asarray(value)
        if origin is tuple:
            args = typing.get_args(tp)
            items = list(value)
            if len(items) != len(args):
                raise TypeError(f"expected {len(args)} items, got {len(items)}")
            return tuple(convert_value(v, a, f"{where}[{i}]")
                         for i, (v, a) in enumerate(zip(items, args, strict=True)))
        if origin is list:
            (arg,) = typing.get_args(tp)
            if isinstance(value, str | bytes | Mapping):
                raise TypeError(f"{value!r} is not a list")
            return [convert_value(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, Mapping):
                raise TypeError(f"{value!r} is not a mapping")
            return dict(value)
        if isinstance(tp, type):
            if isinstance(value, tp):
                return value
            if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
                return tp(**value)
        raise TypeError(f"{value!r} cannot become {getattr(tp, '__name__', tp)}")
    except WorkerError:
        raise
    except (TypeError, ValueError) as exc:
        raise WorkerError(f"config {where}: {exc}", code="RET882",
                          hint="give a value of the type declared in config_schema") from None


class WorkerConfig:
    """Typed configuration values of one worker, with live updates.

    Read values as attributes (``config.threshold``). Call :meth:`update` to change
    values at run time and :meth:`sync` in the worker to learn which keys changed.
    """

    def __init__(self, fields: Mapping[str, ConfigField] | None = None,
                 values: Mapping[str, Any] | None = None,
                 watch: str | os.PathLike[str] | None = None) -> None:
        self.__dict__["_fields"] = dict(fields or {})
        self.__dict__["_lock"] = threading.Lock()
        self.__dict__["_values"] = {}
        self.__dict__["_changed"] = {}
        self.__dict__["_watch"] = Path(watch) if watch is not None else None
        self.__dict__["_watch_stamp"] = None
        initial = {f.name: f.default for f in self._fields.values()}
        initial.update(values or {})
        missing = [f.name for f in self._fields.values()
                   if f.required and initial.get(f.name) is None]
        if missing:
            raise WorkerError(f"config keys {missing} are required and have no value",
                              code="RET882", hint="pass config={...} to run() / as_flow()")
        self._values.update(self._convert_all(initial))
        self.poll()
        self._changed.clear()

    def _convert_all(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            field = self._fields.get(key)
            if field is None:
                if self._fields:
                    raise WorkerError(
                        f"unknown config key {key!r}", code="RET882",
                        hint="declared keys: " + ", ".join(sorted(self._fields)))
                out[key] = value  # no schema: accept plain values as given
                continue
            out[key] = convert_value(value, field.type, key)
        return out

    # ------------------------------------------------------------------ access
    def __getattr__(self, name: str) -> Any:
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        known = ", ".join(sorted(values)) or "none (the component declares no config_schema)"
        raise AttributeError(f"config has no key {name!r}; declared keys: {known}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("config is read-only; use config.update({...})")

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def as_dict(self) -> dict[str, Any]:
        """A copy of every current value."""
        with self._lock:
            return dict(self._values)

    @property
    def fields(self) -> dict[str, ConfigField]:
        """The schema entries, by key."""
        return dict(self._fields)

    # ------------------------------------------------------------------ live updates
    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a live update now (any thread); returns the keys whose value changed."""
        converted = self._convert_all(changes)
        changed = {}
        with self._lock:
            for key, value in converted.items():
                if not _same(self._values.get(key), value) or key not in self._values:
                    self._values[key] = value
                    self._changed[key] = value
                    changed[key] = value
        return changed

    def sync(self) -> dict[str, Any]:
        """Keys (with new values) changed since the previous ``sync()``.

        Also re-reads the watched config file if it changed on disk.
        """
        self.poll()
        with self._lock:
            out = dict(self._changed)
            self._changed.clear()
        return out

    def poll(self) -> dict[str, Any]:
        """Re-read the watched file if its modification stamp changed; apply it."""
        path: Path | None = self._watch
        if path is None:
            return {}
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._watch_stamp:
            return {}
        self.__dict__["_watch_stamp"] = stamp
        return self.update(read_mapping(path))

    def __repr__(self) -> str:
        return f"WorkerConfig({self.as_dict()!r})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b) and type(a) is type(b)


def read_mapping(path: Path) -> dict[str, Any]:
    """A JSON or YAML file holding a mapping (YAML is a superset of JSON)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkerError(f"cannot read config file {str(path)!r}: {exc.strerror}",
                          code="RET882") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise WorkerError(f"config file {str(path)!r} is not valid: {exc}",
                          code="RET882") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WorkerError(f"config file {str(path)!r} must hold a mapping of key: value",
                          code="RET882")
    return data


class _ConfigProxy:
    """The module-level ``config``: the configuration of the worker running now.

    Inside a worker call it is that worker's config; elsewhere it is the config of the
    worker most recently started in this process (empty before any).
    """

    def __init__(self) -> None:
        self.__dict__["_local"] = threading.local()
        self.__dict__["_default"] = WorkerConfig()

    def _target(self) -> WorkerConfig:
        current: WorkerConfig | None = getattr(self._local, "current", None)
        if current is not None:
            return current
        default: WorkerConfig = self.__dict__["_default"]
        return default

    def _bind_default(self, cfg: WorkerConfig) -> None:
        self.__dict__["_default"] = cfg

    def _enter(self, cfg: WorkerConfig) -> WorkerConfig | None:
        prev: WorkerConfig | None = getattr(self._local, "current", None)
        self._local.current = cfg
        return prev

    def _leave(self, prev: WorkerConfig | None) -> None:
        self._local.current = prev

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __getitem__(self, name: str) -> Any:
        return self._target()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._target()

    def sync(self) -> dict[str, Any]:
        """Keys changed since the previous call (see :meth:`WorkerConfig.sync`)."""
        return self._target().sync()

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a live update to the current worker's config."""
        return self._target().update(changes)

    def as_dict(self) -> dict[str, Any]:
        """Every current value."""
        return self._target().as_dict()

    def __repr__(self) -> str:
        return f"config -> {self._target()!r}"


#: The worker configuration singleton.
config = _ConfigProxy()
