"""Typed errors of the payload-type layer (codes RET700-RET799).

Registry and schema problems use RET70x, JSON encoding problems RET71x and payload
validation problems RET72x. Every payload error names the offending field and value.
"""

from __future__ import annotations

from typing import Any

from retriever.contract.errors import RetrieverError


class TypeRegistryError(RetrieverError):
    """A type name is malformed, unknown, or already taken by another class."""

    code = "RET700"


class SchemaError(RetrieverError):
    """A JSON Schema cannot be generated for a type (unsupported or unresolvable)."""

    code = "RET701"


class JsonCodecError(RetrieverError, ValueError):
    """A value cannot be converted to or from its JSON form."""

    code = "RET710"


class PayloadError(RetrieverError, ValueError):
    """A payload value is invalid. ``field`` names where, ``value`` is what was found."""

    code = "RET720"

    def __init__(self, field: str, value: Any, problem: str, *, hint: str = "",
                 code: str | None = None) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} = {_short(value)}: {problem}", hint=hint, code=code)


class NonFiniteError(PayloadError):
    """A number is NaN or infinite where a finite value is required."""

    code = "RET721"


class QuaternionNormError(PayloadError):
    """A quaternion's norm differs from 1 by more than the tolerance."""

    code = "RET722"


class LengthMismatchError(PayloadError):
    """Parallel arrays (e.g. joint names and positions) have different lengths."""

    code = "RET723"


class EmptyFrameError(PayloadError):
    """A frame id is empty where one is required."""

    code = "RET724"


class ShapeError(PayloadError):
    """An array or matrix has the wrong shape for the conversion asked for."""

    code = "RET725"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class FrameMismatchError(PayloadError):
    """Two stamped values cannot be combined because their frames do not meet."""

    code = "RET726"
