"""What an adapter hands to ``step``: the declared output type of each adapter kind.

An adapter reads a port's stored messages (type ``T``) and gives ``step`` a value whose
type depends on the adapter: ``Latest``/``Hold``/``Exact``/``Linear`` give ``T``,
``Events`` gives the ``(t, value)`` pairs of its window, ``Window(agg="mean")`` gives a
float for numbers, ``Chunking`` gives one element of a chunk. Each adapter declares its
*kind*; :func:`sampled_type` turns a kind and ``T`` into the type name the destination
port must accept. Custom adapters that change the type without declaring how are
``unknown``: the port types are then not compared.
"""

from __future__ import annotations

from .typenames import ANY

SAME = "same"
EVENTS = "events"
MEAN = "mean"
ELEMENT = "element"
UNKNOWN = "unknown"
KINDS = (SAME, EVENTS, MEAN, ELEMENT, UNKNOWN)
_NUMBERS = frozenset({"int", "float", "bool"})


def _element_of(stored: str) -> str | None:
    for prefix in ("list[", "collections.abc.Sequence[", "tuple["):
        if stored.startswith(prefix) and stored.endswith("]"):
            inner = stored[len(prefix):-1]
            first = inner.split(",", 1)[0].strip() if "[" not in inner else None
            return first or None
    return None  # arrays (a row or a scalar, by shape) and other types: not known


def sampled_type(kind: str, stored: str) -> str | None:
    """The type ``step`` receives through an adapter of ``kind``; None when unknowable."""
    if kind == SAME:
        return stored
    if kind == EVENTS:
        return f"list[tuple[float, {stored}]]"
    if kind == MEAN:
        return "float" if stored in _NUMBERS else stored
    if kind == ELEMENT:
        if stored == ANY:
            return None
        return _element_of(stored)
    return None


def describe_kind(kind: str) -> str:
    """How a message names what the adapter did (``sampled by Events``)."""
    return {EVENTS: "Events", MEAN: "Window(agg='mean')", ELEMENT: "Chunking"}.get(
        kind, "its adapter")
