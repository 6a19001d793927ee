"""External packages extend retriever through the entry-point group ``retriever.plugins``.

Each entry point names a callable taking no arguments; :func:`load_plugins` calls each
one once, and it registers pipelines, flows or payload types as it likes::

    [project.entry-points."retriever.plugins"]
    my_robot = "my_robot.retriever_plugin:register"

The pipeline registry loads plugins lazily on its first lookup. A plugin that fails is
reported as a :class:`PluginError` naming its entry point; the failure is kept, so every
later lookup reports it again until the process restarts.
"""

from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import dataclass

from retriever.contract.errors import RetrieverError

GROUP = "retriever.plugins"


class PluginError(RetrieverError):
    """One or more ``retriever.plugins`` entry points failed to load or run."""

    code = "RET730"

    def __init__(self, failures: list[PluginFailure], *, code: str | None = None) -> None:
        self.failures = tuple(failures)
        lines = [f"plugin {f.name!r} ({f.value}) failed: {f.error}" for f in failures]
        super().__init__(
            "; ".join(lines) if len(lines) == 1 else
            f"{len(lines)} plugins failed:\n  " + "\n  ".join(lines),
            hint="fix or uninstall the package providing the entry point "
                 f"(group {GROUP!r})", code=code)

    @property
    def names(self) -> list[str]:
        """Entry-point names of the failed plugins."""
        return [f.name for f in self.failures]


@dataclass(frozen=True)
class PluginFailure:
    """One failed entry point: its name, its ``module:attr`` value and what went wrong."""

    name: str
    value: str
    error: str


_lock = threading.RLock()
_attempted: dict[tuple[str, str], PluginFailure | None] = {}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=GROUP)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def load_plugins() -> list[str]:
    """Call every not yet loaded ``retriever.plugins`` entry point once.

    Returns the names of the plugins loaded successfully so far. Raises
    :class:`PluginError` naming every plugin that failed (now or earlier).
    """
    with _lock:
        for ep in _entry_points():
            key = (ep.name, ep.value)
            if key in _attempted:
                continue
            _attempted[key] = None  # re-entrant loads (a plugin looking up) skip it
            _attempted[key] = _run(ep)
        failures = [f for f in _attempted.values() if f is not None]
        if failures:
            raise PluginError(failures)
        return sorted(name for name, _ in _attempted)


def _run(ep: importlib.metadata.EntryPoint) -> PluginFailure | None:
    try:
        target = ep.load()
    except Exception as exc:  # reported with the entry point's name, never dropped
        return PluginFailure(ep.name, ep.value, f"import failed: {type(exc).__name__}: {exc}")
    if not callable(target):
        return PluginFailure(ep.name, ep.value,
                             f"{ep.value} is a {type(target).__name__}, not a callable")
    try:
        target()
    except Exception as exc:  # reported with the entry point's name, never dropped
        return PluginFailure(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
    return None


def loaded_plugins() -> list[str]:
    """Names of the entry points attempted so far that loaded successfully."""
    with _lock:
        return sorted(name for (name, _), failure in _attempted.items() if failure is None)


def reset_plugins() -> None:
    """Forget which plugins were loaded (tests; a new environment)."""
    with _lock:
        _attempted.clear()
