"""Message encoding without pickle: msgspec msgpack, numpy arrays as raw buffers.

A message is a ``dict`` of port name -> value. Arrays travel as an extension type whose
payload is a small header (dtype, shape) followed by the raw bytes; decoding returns a
read-only array that views the received buffer (no copy). Dataclass and ``@io``
values are encoded as maps and rebuilt from the receiver's declared port types.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import numpy as np

from .arrays import (
    ENCODABLE_KINDS,
    array_bytes,
    array_header,
    array_view,
    dtype_of,
    expected_size,
)
from .errors import ConfigError

EXT_NDARRAY = 1
_HEADER = msgspec.msgpack.Encoder()
_HEADER_DEC = msgspec.msgpack.Decoder(tuple[str, tuple[int, ...]])


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _array_ext(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if is_pydantic_model(type(obj)):
        # Field values as they are, so arrays inside still travel as raw buffers.
        return {name: getattr(obj, name) for name in type(obj).model_fields}
    raise TypeError(f"cannot encode a value of type {type(obj).__name__} without pickle")


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic v2 model class (checked without importing pydantic)."""
    return isinstance(tp, type) and callable(getattr(tp, "model_validate", None)) and isinstance(
        getattr(tp, "model_fields", None), dict)


#: Classes msgspec rebuilds from their plain encoding when the port declares them.
_REBUILT = (enum.Enum, msgspec.Struct, datetime.date, datetime.time, datetime.timedelta,
            uuid.UUID, decimal.Decimal)


def _array_ext(arr: np.ndarray) -> msgspec.msgpack.Ext:
    header = _HEADER.encode(array_header(arr))
    # One copy of the data into the payload: a concatenation of bytes would copy it
    # twice more, into fresh memory each time (for a video frame that is most of the
    # encoding's cost).
    payload = bytearray(len(header).to_bytes(2, "little"))
    payload += header
    payload += array_bytes(arr)
    return msgspec.msgpack.Ext(EXT_NDARRAY, payload)


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != EXT_NDARRAY:
        raise ValueError(f"unknown extension type {code} in message")
    n = int.from_bytes(data[:2], "little")
    dtype, shape = _HEADER_DEC.decode(data[2 : 2 + n])
    return array_view(data, dtype, shape, offset=2 + n)


#: Public names of the hooks, for codecs built elsewhere on the same wire format.
enc_hook = _enc_hook
ext_hook = _ext_hook

_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode(value: Any) -> bytes:
    """Encode any supported value (message dicts, envelopes, arrays) to bytes."""
    return _ENCODER.encode(value)


#: :func:`encode` as the encoder's own method, for paths where one Python call per
#: message counts (a worker's sends run with cold caches after each sleep).
raw_encode: Callable[[Any], bytes] = _ENCODER.encode


def decode(data: bytes | memoryview) -> Any:
    """Decode bytes made by :func:`encode` (structured values come back as dicts)."""
    return _DECODER.decode(data)


def _dec_hook(tp: type, obj: Any) -> Any:
    # (types engineer, issue 7) also accept parametrised arrays such as NDArray[np.float64]
    if (tp is np.ndarray or typing.get_origin(tp) is np.ndarray) and isinstance(obj, np.ndarray):
        return obj
    if is_pydantic_model(tp) and isinstance(obj, Mapping):
        return tp.model_validate(dict(obj))  # type: ignore[attr-defined]
    raise TypeError(f"cannot convert {type(obj).__name__} to {tp!r}")


def _needs_convert(tp: Any) -> bool:
    if tp in (int, float, str, bool, bytes, Any, object, np.ndarray) or tp is None:
        return False
    origin = typing.get_origin(tp)
    if origin is not None:
        return any(_needs_convert(a) for a in typing.get_args(tp) if a is not type(None)) or (
            origin is tuple
        )
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or issubclass(tp, tuple)
                                     or issubclass(tp, _REBUILT) or is_pydantic_model(tp))


_REJECTED = object()


def _convert_fast(value: Any, tp: type) -> Any:
    try:
        return msgspec.convert(value, tp, dec_hook=_dec_hook, strict=False)
    except (msgspec.ValidationError, TypeError):
        return _REJECTED  # the caller falls back to the lenient conversion


def convert(value: Any, tp: Any) -> Any:
    """Rebuild a decoded plain value as ``tp`` (dataclasses, tuples); others pass through."""
    if value is None or not _needs_convert(tp):
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        # (types engineer, issue 7) fast path: msgspec builds nested dataclasses natively,
        # ~40x faster than resolving type hints per message; anything it rejects takes the
        # lenient path below, so behaviour is unchanged.
        fast = _convert_fast(value, tp)
        if fast is not _REJECTED:
            return fast
        hints = typing.get_type_hints(tp)
        kwargs = {k: convert(v, hints.get(k, Any)) for k, v in value.items()}
        return tp(**kwargs)
    try:
        return msgspec.convert(value, tp, dec_hook=_dec_hook, strict=False)
    except (msgspec.ValidationError, TypeError):
        return value


def needs_convert(tp: Any) -> bool:
    """Whether decoded values of type ``tp`` must go through :func:`convert`."""
    return _needs_convert(tp)


class MessageCodec:
    """Encodes and decodes messages of known port types.

    ``decode`` returns ``{port: value}`` with structured values rebuilt as the declared
    port types.
    """

    __slots__ = ("_convert", "_fields", "_typed")

    def __init__(self, port_types: Mapping[str, Any] | None = None) -> None:
        types = dict(port_types or {})
        self._convert = {p: t for p, t in types.items() if _needs_convert(t)}
        self._typed = _typed_decoder(types)
        self._fields = tuple(types)

    def encode(self, message: Mapping[str, Any]) -> bytes:
        """Encode a ``{port: value}`` message."""
        return _ENCODER.encode(message)

    def decoder(self) -> Callable[[bytes | memoryview], dict[str, Any]]:
        """:meth:`decode`, or the plain decoder's own method when no port needs
        rebuilding (one Python call less per message)."""
        if self._typed is None and not self._convert:
            plain: Callable[[bytes | memoryview], dict[str, Any]] = _DECODER.decode
            return plain
        return self.decode

    def decode(self, data: bytes | memoryview) -> dict[str, Any]:
        """Decode a message and rebuild structured port values."""
        if self._typed is not None:
            # One pass straight into the declared types; a value that does not fit its
            # declaration falls back to the lenient path below.
            try:
                obj = self._typed.decode(data)
            except (msgspec.ValidationError, TypeError):
                pass
            else:
                return {f: v for f in self._fields if (v := getattr(obj, f)) is not None}
        msg: dict[str, Any] = _DECODER.decode(data)
        for port, tp in self._convert.items():
            if port in msg:
                msg[port] = convert(msg[port], tp)
        return msg


def _typed_decoder(types: Mapping[str, Any]) -> Any:
    """A msgspec decoder straight into the declared port types (ports become fields of
    a generated struct), or None when there is nothing structured or msgspec cannot
    express a type. Ports the receiver did not declare are not its concern."""
    if not types or not any(_needs_convert(t) for t in types.values()):
        return None
    fields = [(p, t | None if _needs_convert(t) else Any, None) for p, t in types.items()]
    try:
        struct = msgspec.defstruct("Message", fields, omit_defaults=True)
        return msgspec.msgpack.Decoder(struct, dec_hook=_dec_hook, ext_hook=_ext_hook,
                                       strict=False)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------- init config (JSON)

_JSON_SCALARS = (str, int, float, bool, type(None))


def to_json_value(value: Any, where: str = "value") -> Any:
    """Encode a constructor argument as tagged JSON, or raise :class:`ConfigError`.

    Supported: JSON scalars, lists, tuples, dicts with string keys, numpy arrays and
    scalars, dataclass / ``@io`` instances of importable classes.
    """
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where} has a non-string key {k!r}",
                                  hint="use string keys in dict arguments")
            out[k] = to_json_value(v, f"{where}[{k!r}]")
        if any(k.startswith("$") for k in out):
            return {"$dict": out}
        return out
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        dtype, shape = array_header(value)
        return {"$ndarray": {"dtype": dtype, "shape": list(shape),
                             "data": bytes(array_bytes(value)).hex()}}
    cls = type(value)
    if dataclasses.is_dataclass(value) and "<locals>" not in cls.__qualname__:
        fields = {f.name: to_json_value(getattr(value, f.name), f"{where}.{f.name}")
                  for f in dataclasses.fields(value)}
        return {"$dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise ConfigError(
        f"{where} of type {cls.__name__} cannot be encoded without pickle",
        hint="pass plain data (numbers, strings, lists, dicts, numpy arrays, dataclasses "
             "defined at module level) and build richer objects in __lazy_init__()",
        code="RET109",
    )


def _json_array(spec: Any) -> np.ndarray:
    """The array a ``$ndarray`` value describes (a new, writable array), rebuilt with
    the same header rules as every other array codec; a malformed one is refused."""
    try:
        dtype = str(spec["dtype"])
        shape = [int(n) for n in spec["shape"]]
        raw = bytes.fromhex(spec["data"])
        if dtype_of(dtype).kind not in ENCODABLE_KINDS or min(shape, default=0) < 0:
            raise ValueError(f"dtype {dtype!r} with shape {shape} cannot travel")
        if len(raw) != expected_size(dtype, shape):
            raise ValueError(f"{len(raw)} data bytes for shape {shape} of {dtype} "
                             f"(expected {expected_size(dtype, shape)})")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"a $ndarray value is malformed: {exc}",
                          hint="the init config is malformed; re-export the IR") from None
    return array_view(raw, dtype, shape).copy()


def from_json_value(value: Any, resolve_class: Any = None) -> Any:
    """Inverse of :func:`to_json_value`.

    ``resolve_class('mod:qual')`` returns the class of a ``$dataclass`` value; it must
    refuse anything that is not a value class *before* it is called here, since the
    names come from a file (the runtime passes a checked resolver).
    """
    if isinstance(value, list):
        return [from_json_value(v, resolve_class) for v in value]
    if not isinstance(value, dict):
        return value
    if "$tuple" in value:
        return tuple(from_json_value(v, resolve_class) for v in value["$tuple"])
    if "$dict" in value:
        return {k: from_json_value(v, resolve_class) for k, v in value["$dict"].items()}
    if "$ndarray" in value:
        return _json_array(value["$ndarray"])
    if "$dataclass" in value:
        if resolve_class is None:
            raise ConfigError("a dataclass argument needs a class resolver")
        fields = value.get("fields", {})
        if not isinstance(fields, dict):
            raise ConfigError(f"a $dataclass value has fields of type {type(fields).__name__}",
                              hint="the init config is malformed; re-export the IR")
        cls = resolve_class(value["$dataclass"])
        return cls(**{k: from_json_value(v, resolve_class) for k, v in fields.items()})
    return {k: from_json_value(v, resolve_class) for k, v in value.items()}
