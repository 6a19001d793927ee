"""Which port types get a schema Foxglove's JSON Schema parser accepts, and which are
written as JSON text; and the PointCloud payload type."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pytest

from retriever.record.fox_schema import flat_schema
from retriever.types.errors import NonFiniteError, ShapeError
from retriever.types.pointcloud import PointCloud
from retriever.types.registry import from_jsonable, lookup, to_jsonable


class Mode(enum.Enum):
    IDLE = "idle"
    RUN = "run"


@dataclass
class Node:
    value: float
    child: Node | None


@dataclass
class Point:
    x: float
    tags: list[str]


@pytest.mark.parametrize(("tp", "kind"), [
    (float, "number"), (int, "integer"), (bool, "boolean"), (str, "string"),
    (int | float, "number"), (float | None, "number"), (Literal["a", "b"], "string"),
    (Mode, "string"), (list[float], "array"), (tuple[float, float], "array"),
    (np.ndarray, "object"), (Point, "object"), (list[Point], "array"), (bytes, "string"),
])
def test_types_foxglove_can_parse(tp: Any, kind: str) -> None:
    schema = flat_schema(tp)
    assert schema is not None and schema["type"] == kind
    assert "anyOf" not in str(schema) and "$ref" not in str(schema)


@pytest.mark.parametrize("tp", [Any, dict[str, float], int | str, tuple[int, str],
                                list[list[float]], list[bytes], Node, Literal[1, "a"]])
def test_types_written_as_json_text(tp: Any) -> None:
    assert flat_schema(tp) is None


def test_point_cloud_validates_and_round_trips() -> None:
    cloud = PointCloud.from_points([[0, 0, 1], [1, 2, 3]], [[255, 0, 0], [0, 255, 0]],
                                   "lidar", 5)
    assert cloud.points.dtype == np.float32 and len(cloud) == 2
    assert cloud.validate() is cloud
    assert lookup("retriever/spatial/v1/PointCloud") is PointCloud
    back = from_jsonable(to_jsonable(cloud), PointCloud)
    assert back.header == cloud.header and np.array_equal(back.colors, cloud.colors)
    with pytest.raises(ShapeError):
        PointCloud.from_points(np.zeros((3, 2))).validate()
    with pytest.raises(ShapeError):
        PointCloud.from_points(np.zeros((3, 3)), np.zeros((2, 3))).validate()
    with pytest.raises(NonFiniteError):
        PointCloud.from_points([[np.nan, 0, 0]]).validate()
