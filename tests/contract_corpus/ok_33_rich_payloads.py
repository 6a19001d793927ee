"""Ports typed as pydantic models, msgspec structs, enums, datetimes and UUIDs."""
import datetime
import enum
import uuid

import msgspec
import numpy as np
import pydantic

from retriever.flow import Flow, Latest, Pipeline, Rate, io


class Mode(enum.Enum):
    IDLE = "idle"
    RUN = "run"


class Gains(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    k: float
    matrix: np.ndarray


class Box(msgspec.Struct):
    w: int
    h: int


@io
class Status:
    mode: Mode
    gains: Gains
    boxes: list[Box]
    stamp: datetime.datetime
    run: uuid.UUID


class Reporter(Flow[None, Status]):
    def step(self, input: None) -> Status:
        return Status(mode=Mode.RUN)


class Display(Flow[Status, None]):
    def step(self, input: Status) -> None:
        return None


pipe = Pipeline("p")
pipe.connect(Reporter() @ Rate(hz=1), Display() @ Rate(hz=1), sync=Latest())
