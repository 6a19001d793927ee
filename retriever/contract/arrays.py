"""The one description of a numpy array that travels or is stored without pickle.

An array is described by a header, its dtype as numpy's array-interface string (byte
order, kind, item size: ``"<f4"``) and its shape, plus its raw bytes in C order. The
message codec (:mod:`retriever.contract.wire`), the shared-memory transport, the dora
codec, the recordings and the JSON form of payloads all use these helpers, so every
place agrees on which arrays can travel and how they are rebuilt.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: dtype kinds that travel: booleans, integers, floats, complex, fixed-width text.
ENCODABLE_KINDS = frozenset("biufcSU")
_DTYPES: dict[str, np.dtype[Any]] = {}

ArrayHeader = tuple[str, tuple[int, ...]]


def array_header(arr: np.ndarray) -> ArrayHeader:
    """``(dtype string, shape)`` of ``arr``; a TypeError for arrays that cannot travel
    without pickle (Python objects)."""
    if arr.dtype.hasobject:
        raise TypeError("numpy arrays of Python objects cannot be encoded without pickle")
    return arr.dtype.str, arr.shape  # an ndarray's shape is a tuple of Python ints


def array_bytes(arr: np.ndarray) -> memoryview:
    """The raw bytes of ``arr`` in C order (a view when it is contiguous, else a copy)."""
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr.reshape(-1).view(np.uint8).data


def dtype_of(text: str) -> np.dtype[Any]:
    """The numpy dtype of a header's dtype string (cached: this is on hot paths)."""
    dt = _DTYPES.get(text)
    if dt is None:
        dt = _DTYPES[text] = np.dtype(text)
    return dt


def array_view(buffer: Any, dtype: str, shape: tuple[int, ...] | list[int], *,
               offset: int = 0) -> np.ndarray:
    """An array viewing ``buffer`` from ``offset`` (no copy; read-only when the buffer
    is). The buffer's owner is kept alive by the array."""
    return np.ndarray(tuple(shape), dtype_of(dtype), buffer, offset)


def expected_size(dtype: str, shape: tuple[int, ...] | list[int]) -> int:
    """Bytes an array of ``dtype`` and ``shape`` takes."""
    return math.prod(shape) * dtype_of(dtype).itemsize


__all__ = ["ENCODABLE_KINDS", "ArrayHeader", "array_bytes", "array_header", "array_view",
           "dtype_of", "expected_size"]
