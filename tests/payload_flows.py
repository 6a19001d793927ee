"""Flows whose ports carry every payload kind users bring (importable by workers)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pydantic

from retriever.flow import Flow, io


class Mode(enum.Enum):
    IDLE = "idle"
    RUN = "run"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Gains(pydantic.BaseModel):
    """A pydantic v2 model with a numpy array inside."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    name: str
    k: float
    matrix: np.ndarray


class Target(msgspec.Struct):
    """A msgspec struct with a numpy array inside."""

    label: str
    box: np.ndarray


@dataclasses.dataclass
class Window2:
    """A plain dataclass."""

    lo: int
    hi: int


@io
class Inner:
    v: float


@io
class Rich:
    gains: Gains
    target: Target
    span: Window2
    mode: Mode
    level: Level
    stamp: datetime.datetime
    day: datetime.date
    age: datetime.timedelta
    ident: uuid.UUID
    inner: Inner
    inners: list[Inner]


def rich(k: int) -> Rich:
    """The k-th test value (every field set, arrays included)."""
    return Rich(
        gains=Gains(name=f"g{k}", k=0.5 * k, matrix=np.arange(6.0).reshape(2, 3) + k),
        target=Target(label=f"t{k}", box=np.array([k, k + 1, 4, 4], dtype=np.int32)),
        span=Window2(lo=k, hi=k + 10),
        mode=Mode.RUN if k % 2 else Mode.IDLE,
        level=Level.HIGH if k % 2 else Level.LOW,
        stamp=datetime.datetime(2024, 5, 1, 12, 0, k, 250000, tzinfo=datetime.UTC),
        day=datetime.date(2024, 5, 1 + k),
        age=datetime.timedelta(seconds=1.5 * k),
        ident=uuid.UUID(int=k + 1),
        inner=Inner(v=float(k)),
        inners=[Inner(v=1.0), Inner(v=float(k))],
    )


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, arrays compared element-wise."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, pydantic.BaseModel):
        return all(same(getattr(a, n), getattr(b, n)) for n in type(a).model_fields)
    if isinstance(a, msgspec.Struct):
        return all(same(getattr(a, n), getattr(b, n)) for n in a.__struct_fields__)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class RichSource(Flow[None, Rich]):
    """Emits rich(1), rich(2), ..."""

    def reset(self) -> None:
        self.k = 0

    def step(self, input: None) -> Rich:
        self.k += 1
        return rich(self.k)


class RichCheck(Flow[Rich, None]):
    """Compares what arrives with what was sent; logs one JSON line per message."""

    def __init__(self, log: str = "") -> None:
        self.log = log
        self.seen: list[Rich] = []

    def step(self, input: Rich) -> None:
        self.seen.append(input)
        if self.log:
            k = int(input.inner.v)
            ok = all(same(getattr(rich(k), f.name), getattr(input, f.name))
                     for f in dataclasses.fields(Rich))
            with Path(self.log).open("a") as fh:
                fh.write(json.dumps({"k": k, "ok": ok}) + "\n")
