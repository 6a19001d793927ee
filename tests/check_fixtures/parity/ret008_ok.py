"""RET008, clean: pydantic, msgspec, dataclass, enum, datetime, UUID and array ports."""
import dataclasses
import datetime
import enum
import uuid

import msgspec
import numpy as np
import pydantic

from retriever.flow import Flow, Pipeline, Rate, io


class Mode(enum.Enum):
    IDLE = "idle"


class Gains(pydantic.BaseModel):
    k: float


class Box(msgspec.Struct):
    w: int


@dataclasses.dataclass
class Span:
    lo: int


@io
class Status:
    mode: Mode
    gains: Gains
    box: Box
    span: list[Span]
    stamp: datetime.datetime
    ident: uuid.UUID
    image: np.ndarray
    extra: dict[str, float] | None


class Source(Flow[None, Status]):
    def step(self, input: None) -> Status:
        return Status()


pipe = Pipeline("ret008-ok")
pipe.add(Source() @ Rate(hz=10))
