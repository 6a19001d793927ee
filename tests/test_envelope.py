from __future__ import annotations

import typing
from dataclasses import dataclass, fields

import numpy as np
import pytest

from retriever.contract import envelope_field_types, envelope_ports, is_envelope
from retriever.contract.errors import RetrieverError
from retriever.contract.wire import MessageCodec, decode, encode
from retriever.flow import io


@io
class Obs:
    value: float
    label: str
    img: np.ndarray


def test_fields_become_optional_ports_defaulting_to_none() -> None:
    o = Obs()
    assert (o.value, o.label, o.img) == (None, None, None)
    assert envelope_ports(Obs) == ("value", "label", "img")
    assert is_envelope(Obs) and not is_envelope(Obs())
    assert all(f.default is None for f in fields(Obs))


@io
class Child(Obs):
    stamp: float | None
    later: Later


@io
class Later:
    n: int


def test_type_hints_show_the_optional_that_io_adds() -> None:
    # What the mypy plugin tells users about the constructor (`x: float | None =`) is
    # what the runtime annotations say; the port model keeps the declared types.
    hints = typing.get_type_hints(Obs)
    assert hints == {"value": float | None, "label": str | None, "img": np.ndarray | None}
    assert typing.get_type_hints(Obs.__init__)["value"] == float | None
    assert typing.get_type_hints(Child)["later"] == Later | None
    assert typing.get_type_hints(Child)["stamp"] == float | None
    assert envelope_field_types(Child) == {"value": float, "label": str, "img": np.ndarray,
                                           "stamp": float | None, "later": Later}


def test_signal_accessors() -> None:
    o = Obs(value=1.5)
    assert o._signals() == ["value"]
    assert o._has_signal("value") and not o._has_signal("label")
    o._set_signal("label", "x")
    assert o._get_signal("label") == "x"
    assert o._signals() == ["value", "label"]
    with pytest.raises(RetrieverError, match="no port 'nope'"):
        o._get_signal("nope")


def test_with_and_without_dataclass() -> None:
    @io
    @dataclass
    class A:
        x: int
        y: int = 3

    @dataclass
    @io
    class B:
        z: int

    assert A() == A(x=None, y=3)
    assert A(x=1)._signals() == ["x", "y"]
    assert B().z is None and envelope_ports(B) == ("z",)


def test_classvars_and_private_fields_are_not_ports() -> None:
    from typing import ClassVar

    @io
    class C:
        kind: ClassVar[str] = "c"
        value: int

    assert envelope_ports(C) == ("value",)


def test_msgspec_round_trip_with_numpy_without_pickle() -> None:
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    codec = MessageCodec({"value": float, "img": np.ndarray})
    data = codec.encode({"value": 2.5, "label": "hi", "img": arr})
    assert b"pickle" not in data
    back = codec.decode(data)
    assert back["value"] == 2.5 and back["label"] == "hi"
    assert back["img"].dtype == np.float32 and back["img"].shape == (2, 3, 4)
    assert np.array_equal(back["img"], arr)


def test_envelope_round_trip_rebuilds_nested_envelopes() -> None:
    @io
    class Inner:
        a: int

    codec = MessageCodec({"inner": Inner})
    back = codec.decode(codec.encode({"inner": Inner(a=3)}))
    assert back["inner"] == Inner(a=3)
    assert decode(encode([1, "x", None])) == [1, "x", None]


def test_object_arrays_are_refused() -> None:
    with pytest.raises(TypeError, match="without pickle"):
        encode({"x": np.array([object()])})


@dataclass
class PlainBase:
    x: float = 0.0


@io
class OnPlainBase(PlainBase):
    y: int


def test_ports_inherited_from_a_plain_dataclass_keep_their_types() -> None:
    assert envelope_field_types(OnPlainBase) == {"x": float, "y": int}
    assert typing.get_type_hints(OnPlainBase)["y"] == int | None
