"""retriever.types.registry: names, lookup, JSON Schemas, the JSON form, drift, CLI."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
import re
from pathlib import Path
from typing import Any, Literal, Optional

import msgspec
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp
from pydantic import BaseModel

from retriever.cli.main import main as cli
from retriever.contract.envelope import io
from retriever.types import generate
from retriever.types.errors import JsonCodecError, SchemaError, TypeRegistryError
from retriever.types.registry import (
    DRAFT,
    from_jsonable,
    json_schema,
    lookup,
    name_of,
    register_type,
    registered,
    to_jsonable,
    unregister,
)
from retriever.types.spatial import Header, JointState, Pose, TransformStamped, Vector3

# ----------------------------------------------------------- a small schema validator
# Covers the keywords json_schema() emits, so tests can check data against schemas
# without a jsonschema dependency.

_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(kind: str, v: Any) -> bool:
    if kind == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, _TYPES[kind])


def validate(data: Any, schema: Any, root: dict[str, Any], where: str = "$") -> None:
    if schema is True or schema == {}:
        return
    assert schema is not False, f"{where}: not allowed"
    if "$ref" in schema:
        ref = schema["$ref"]
        target = root if ref == "#" else root["$defs"][ref.removeprefix("#/$defs/")]
        validate(data, target, root, where)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(_is(k, data) for k in kinds), f"{where}: {data!r} is not {kinds}"
    if "anyOf" in schema:
        errors = []
        for sub in schema["anyOf"]:
            try:
                validate(data, sub, root, where)
                break
            except AssertionError as exc:
                errors.append(str(exc))
        else:
            raise AssertionError(f"{where}: no anyOf branch matched: {errors}")
    if "enum" in schema:
        assert data in schema["enum"], f"{where}: {data!r} not in {schema['enum']}"
    if "const" in schema:
        assert data == schema["const"]
    if isinstance(data, str) and "pattern" in schema:
        assert re.search(schema["pattern"], data), f"{where}: {data!r} !~ {schema['pattern']}"
    if _is("number", data) and "minimum" in schema:
        assert data >= schema["minimum"]
    if isinstance(data, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in data, f"{where}: missing {key}"
        for key, value in data.items():
            if key in props:
                validate(value, props[key], root, f"{where}.{key}")
            elif "additionalProperties" in schema:
                validate(value, schema["additionalProperties"], root, f"{where}.{key}")
    if isinstance(data, list):
        prefix = schema.get("prefixItems", [])
        if "minItems" in schema:
            assert len(data) >= schema["minItems"]
        for i, value in enumerate(data):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            validate(value, sub, root, f"{where}[{i}]")


def check(value: Any, tp: Any) -> Any:
    """to_jsonable -> JSON text -> schema-valid -> from_jsonable; returns the rebuilt value."""
    schema = json_schema(tp)
    data = json.loads(json.dumps(to_jsonable(value), allow_nan=False))
    validate(data, schema, schema)
    return from_jsonable(data, tp)


# ----------------------------------------------------------------- user types for tests

class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Blob:
    """A blob of things."""

    label: str
    color: Color
    scores: npt.NDArray[np.float32]
    raw: bytes
    corners: tuple[int, int]
    tags: dict[str, float]
    note: Optional[str] = None  # noqa: UP045 - the Optional spelling is what is tested
    kind: Literal["a", "b"] = "a"


@io
class Detections:
    blob: Blob
    count: int
    image: np.ndarray


@dataclasses.dataclass
class Tree:
    value: int
    children: list[Tree] = dataclasses.field(default_factory=list)


class Settings(BaseModel):
    gain: float
    name: str = "x"


@io
class WithModel:
    settings: Settings


def make_blob() -> Blob:
    return Blob("b", Color.BLUE, np.array([0.5, math.nan], np.float32), b"\x00\xff",
                (1, 2), {"x": math.inf})


# ----------------------------------------------------------------- registry

def test_shipped_types_are_registered_under_versioned_names() -> None:
    names = registered("retriever/")
    assert "retriever/spatial/v1/Pose" in names and "retriever/data/v1/Event" in names
    assert lookup("retriever/spatial/v1/Pose") is Pose
    assert name_of(JointState) == "retriever/spatial/v1/JointState"
    assert name_of(Blob) is None
    assert list(registered("retriever/spatial/")) == sorted(registered("retriever/spatial/"))


def test_user_types_register_and_conflicts_are_typed_errors() -> None:
    @dataclasses.dataclass
    class Mine:
        a: int

    register_type("acme/test/v1/Mine")(Mine)
    try:
        assert lookup("acme/test/v1/Mine") is Mine and name_of(Mine) == "acme/test/v1/Mine"
        register_type("acme/test/v1/Mine")(Mine)  # idempotent
        assert "acme/test/v1/Mine" in registered("acme/")

        @dataclasses.dataclass
        class Other:
            b: int

        with pytest.raises(TypeRegistryError, match="already registered") as info:
            register_type("acme/test/v1/Mine")(Other)
        assert info.value.code == "RET703"
        with pytest.raises(TypeRegistryError, match="already registered as"):
            register_type("acme/test/v2/Mine")(Mine)
    finally:
        unregister("acme/test/v1/Mine")
    with pytest.raises(TypeRegistryError):
        lookup("acme/test/v1/Mine")


@pytest.mark.parametrize("bad", ["Pose", "retriever/spatial/Pose", "Acme/v1/X", "acme/v1/",
                                 "acme//v1/X", "acme/v1/9X"])
def test_malformed_names_are_rejected(bad: str) -> None:
    with pytest.raises(TypeRegistryError, match="versioned") as info:
        register_type(bad)
    assert info.value.code == "RET702"


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(TypeRegistryError, match="did you mean retriever/spatial/v1/Pose"):
        lookup("retriever/spatial/v9/Pose")


# ----------------------------------------------------------------- JSON form

def test_arrays_use_the_documented_encoding() -> None:
    arr = np.arange(6, dtype="<i2").reshape(2, 3)
    data = to_jsonable(arr)
    assert data == {"dtype": "<i2", "shape": [2, 3],
                    "data": base64.b64encode(arr.tobytes()).decode()}
    back = from_jsonable(data, np.ndarray)
    assert back.dtype == arr.dtype and back.shape == (2, 3) and np.array_equal(back, arr)
    assert back.flags.writeable


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(hnp.scalar_dtypes().filter(lambda d: d.kind in "biufc"),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_arrays_round_trip_bit_for_bit(arr: np.ndarray) -> None:
    back = check(arr, np.ndarray)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == np.ascontiguousarray(arr).tobytes()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(hnp.scalar_dtypes().filter(lambda d: d.kind in "biufc"),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_binary_form_encodes_to_the_same_json_text(arr: np.ndarray) -> None:
    # the MCAP writer hands array data to msgspec as raw bytes; the text must be the
    # documented one, strided views and text arrays included
    enc = msgspec.json.Encoder()
    flipped = arr[..., ::-1] if arr.ndim else arr
    for value in (arr, flipped, arr.T, {"a": arr, "b": b"\x00\xff"}, np.array(["ab", "c"]),
                  memoryview(b"abcdef")[::2]):
        assert enc.encode(to_jsonable(value, binary=True)) == enc.encode(to_jsonable(value))


def test_non_contiguous_and_big_endian_arrays() -> None:
    arr = np.arange(12, dtype=">f8").reshape(3, 4)[:, ::2]
    back = check(arr, np.ndarray)
    assert back.dtype.str == ">f8" and np.array_equal(back, arr)


def test_object_arrays_and_unknown_classes_have_no_json_form() -> None:
    with pytest.raises(JsonCodecError, match="dtype object"):
        to_jsonable(np.array([object()]))
    with pytest.raises(JsonCodecError, match="has no JSON form"):
        to_jsonable({"x": object()})
    with pytest.raises(JsonCodecError, match="non-string key"):
        to_jsonable({1: 2})


def test_dataclasses_envelopes_and_none_round_trip() -> None:
    value = Detections(blob=make_blob(), count=None,  # type: ignore[arg-type]
                       image=np.zeros((2, 2), np.uint8))
    data = to_jsonable(value)
    assert data["count"] is None and data["blob"]["note"] is None
    assert data["blob"]["tags"] == {"x": "Infinity"} and data["blob"]["color"] == "blue"
    back = check(value, Detections)
    assert back.count is None
    assert back.blob.scores.dtype == np.float32 and math.isnan(back.blob.scores[1])
    assert back.blob.raw == b"\x00\xff" and back.blob.corners == (1, 2)
    assert back.blob.color is Color.BLUE and back.blob.tags == {"x": math.inf}
    assert np.array_equal(back.image, value.image)


def test_shipped_values_validate_against_their_schemas_and_round_trip() -> None:
    ts = TransformStamped(Header("map", 2**62), "base")
    assert check(ts, TransformStamped) == ts
    js = JointState.make(["a", "b"], [1.0, math.nan], [], [0.5, 0.25], Header("arm"))
    assert check(js, "retriever/spatial/v1/JointState") == js
    assert check(Pose(Vector3(1.0, -0.0, 3.5)), Pose) == Pose(Vector3(1.0, -0.0, 3.5))


def test_decoding_reports_what_is_wrong_and_where() -> None:
    with pytest.raises(JsonCodecError, match=r"value.position.x: expected a number"):
        from_jsonable({"position": {"x": "one"}}, Pose)
    with pytest.raises(JsonCodecError, match="has no field"):
        from_jsonable({"nope": 1}, Pose)
    with pytest.raises(JsonCodecError, match="data bytes"):
        from_jsonable({"dtype": "<f8", "shape": [2], "data": "AAAA"}, np.ndarray)
    with pytest.raises(JsonCodecError, match="expected 2 items"):
        from_jsonable([1], tuple[int, int])
    with pytest.raises(JsonCodecError, match="not one of"):
        from_jsonable("c", Literal["a", "b"])
    with pytest.raises(JsonCodecError, match="expected an integer"):
        from_jsonable(True, int)


def test_recursive_dataclasses_and_pydantic_models() -> None:
    tree = Tree(1, [Tree(2), Tree(3, [Tree(4)])])
    assert check(tree, Tree) == tree
    schema = json_schema(Tree)
    assert schema["properties"]["children"]["items"] == {"$ref": "#"}
    value = WithModel(settings=Settings(gain=2.0))
    assert check(value, WithModel) == value


# ----------------------------------------------------------------- schemas

def test_schema_shape_for_an_envelope() -> None:
    schema = json_schema(Detections)
    assert schema["$schema"] == DRAFT and schema["title"] == "Detections"
    assert schema["required"] == ["blob", "count", "image"]
    assert schema["properties"]["count"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    blob = schema["$defs"][f"{__name__}.Blob"]
    assert blob["description"] == "A blob of things."
    assert "float32 (<f4)" in blob["properties"]["scores"]["description"]
    assert blob["properties"]["kind"] == {"enum": ["a", "b"]}
    assert blob["properties"]["color"] == {"enum": ["red", "blue"]}
    assert blob["properties"]["corners"]["prefixItems"] == [{"type": "integer"}] * 2
    assert blob["properties"]["raw"] == {"type": "string", "contentEncoding": "base64"}


def test_schemas_of_annotations_and_unsupported_types() -> None:
    assert json_schema(list[float])["items"]["type"] == ["number", "string"]
    assert json_schema(dict[str, int])["additionalProperties"] == {"type": "integer"}
    assert json_schema(int | None) == {"$schema": DRAFT,
                                       "anyOf": [{"type": "integer"}, {"type": "null"}]}
    with pytest.raises(SchemaError, match="no JSON Schema") as info:
        json_schema(complex)
    assert info.value.code == "RET701"


def test_registered_types_use_their_names() -> None:
    schema = json_schema("retriever/spatial/v1/PoseStamped")
    assert schema["title"] == "retriever/spatial/v1/PoseStamped"
    assert set(schema["$defs"]) == {f"retriever.spatial.v1.{n}"
                                    for n in ("Header", "Pose", "Vector3", "Quaternion")}


# ----------------------------------------------------------------- drift and CLI

def test_types_directory_matches_the_generated_schemas() -> None:
    problems = generate.check()
    assert not problems, ("types/ is out of date; run `python -m retriever.types.generate`:\n"
                          + "\n".join(problems))
    assert (generate.DEFAULT_DIR / "retriever/spatial/v1/Pose.json").is_file()


def test_generator_writes_and_detects_drift(tmp_path: Path) -> None:
    assert generate.main(["--dir", str(tmp_path)]) == 0
    assert generate.check(tmp_path) == []
    pose = tmp_path / "retriever/spatial/v1/Pose.json"
    pose.write_text("{}\n")
    (tmp_path / "retriever/spatial/v1/Gone.json").write_text("{}\n")
    assert generate.check(tmp_path) == ["out of date: retriever/spatial/v1/Pose.json",
                                        "stale (no such type): retriever/spatial/v1/Gone.json"]
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 1
    generate.write(tmp_path)
    assert generate.check(tmp_path) == []
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["types"]["retriever/spatial/v1/Pose"] == "retriever/spatial/v1/Pose.json"


def test_cli_prints_and_writes_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schema", "retriever/spatial/v1/Twist"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema("retriever/spatial/v1/Twist")
    assert cli(["schema", f"{__name__}:Detections"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema(Detections)
    assert cli(["schema", __name__, "-o", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert written == [f"{__name__}.Detections.json", f"{__name__}.WithModel.json"]
    capsys.readouterr()
    assert cli(["schema", "--list"]) == 0
    assert "retriever/spatial/v1/Pose\tretriever.types.spatial:Pose" in capsys.readouterr().out
    assert cli(["schema", "retriever/spatial/v1/Nope"]) == 1
    assert "RET700" in capsys.readouterr().err
    assert cli(["schema", f"{__name__}:Settings"]) == 1
    assert cli(["schema", "no_such_module_xyz"]) == 1
