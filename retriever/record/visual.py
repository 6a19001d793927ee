"""What a value looks like in the Rerun viewer.

Vision and spatial payloads are shown as their own archetypes (:mod:`.rerun_views`).
Otherwise numbers (and booleans) become scalars, image-shaped arrays become images, other numeric
arrays become tensors, strings and everything else become text documents. This is for
looking only; the exact value travels beside it (see :mod:`retriever.record.rrd`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .rerun_views import TransformTree, transform_list, typed_archetypes

_TEXT_LIMIT = 4000
_IMAGE_DTYPES = frozenset(["u1", "u2", "f4", "f8", "i1", "i2", "i4", "u4", "f2"])


def is_number(value: Any) -> bool:
    """A scalar the viewer can plot."""
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


def is_image(value: Any) -> bool:
    """An array shaped like an image: HxW or HxWx{1,3,4} of a pixel dtype."""
    if not isinstance(value, np.ndarray) or value.size == 0:
        return False
    if f"{value.dtype.kind}{value.dtype.itemsize}" not in _IMAGE_DTYPES:
        return False
    if value.ndim == 2:
        return bool(min(value.shape) >= 2)
    return bool(value.ndim == 3 and value.shape[2] in (1, 3, 4) and min(value.shape[:2]) >= 2)


def preview(value: Any) -> str:
    """A readable text rendering (arrays summarised, long text cut)."""
    text = value if isinstance(value, str) else json.dumps(_plain(value), indent=2,
                                                            default=repr)
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + f"\n... ({len(text) - _TEXT_LIMIT} more characters)"
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size <= 16 and value.dtype.kind in "biuf":
            return value.tolist()
        return f"<ndarray {value.dtype} shape={tuple(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def archetypes(rr: Any, value: Any) -> list[Any]:
    """The Rerun archetypes showing ``value`` (vision and spatial payloads as their own
    archetypes, see :mod:`.rerun_views`; everything else as :func:`archetype`)."""
    typed = typed_archetypes(rr, value)
    return typed if typed is not None else [archetype(rr, value)]


def log_value(stream: Any, rr: Any, entity: str, value: Any,
              trees: dict[str, TransformTree]) -> None:
    """Log what ``value`` looks like at ``entity`` of ``stream``. A list of transforms
    is logged as a frame tree below ``entity`` (``trees`` remembers each entity's
    frames across calls) instead of at ``entity`` itself."""
    tfs = transform_list(value)
    if tfs is None:
        stream.log(entity, *archetypes(rr, value))
        return
    tree = trees.get(entity)
    if tree is None:
        tree = trees[entity] = TransformTree()
    for path, views in tree.archetypes(rr, entity, tfs):
        stream.log(path, *views)


def archetype(rr: Any, value: Any) -> Any:
    """The Rerun archetype showing a plain value."""
    if is_number(value):
        return rr.Scalars(float(value))
    if is_image(value):
        return rr.Image(value)
    if (isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim == 1
            and 0 < value.size <= 16):
        return rr.Scalars(value.astype(np.float64))
    if (isinstance(value, (list, tuple)) and 0 < len(value) <= 16
            and all(is_number(v) for v in value)):
        return rr.Scalars(np.asarray(value, dtype=np.float64))
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size > 0:
        return rr.Tensor(value)
    return rr.TextDocument(preview(value))
