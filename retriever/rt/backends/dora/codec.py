"""Messages as Arrow arrays for dora, without pickle.

One retriever message (``{port: value}``, every port of one step) travels as one dora
output event, so it always arrives whole. Large numpy arrays (``>= OUT_OF_BAND`` bytes)
travel out of band as raw ``uint8`` Arrow buffers; everything else is encoded with
msgspec by :mod:`retriever.contract.wire`, and in that encoding each out-of-band array
is an extension value ``(index, dtype, shape)``. The event's value is

- no large array: a ``uint8`` array holding the encoding;
- one large array (the common case: an image): that array's bytes as a ``uint8``
  array, with the encoding in the event's metadata under ``HEADER_KEY`` (a latin-1
  string: dora metadata carries strings, not bytes);
- several: a dense union whose child 0 is the encoding and children 1..n the arrays;
- a loaned array (``Flow.loan``) filled in place in a dora sample (see :mod:`.lend`):
  the sample's bytes, the array first, then the encoding and the message's number at
  the very end (:func:`write_tail`), with ``TAIL_KEY`` in the metadata. A sample's
  metadata is fixed when it is allocated, before the step has produced the rest of the
  message, hence the tail.

The sender hands Arrow views of the numpy memory to dora (dora then copies once into
its shared memory from 4 KiB on); the receiver views dora's buffers as read-only arrays
without copying. Structured values are rebuilt as the receiving ports' declared types
with :func:`retriever.contract.wire.convert`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from retriever.contract import wire
from retriever.contract.arrays import array_header, array_view

OUT_OF_BAND = 4096
EXT_BLOB = 0x52  # extension code of an out-of-band array reference
HEADER_KEY = "retriever_msg"
SEQ_KEY = "retriever_seq"  # metadata: the message's number on its output
TAIL_KEY = "retriever_tail"  # metadata: the encoding travels at the end of the value
TAIL_ROOM = 4096  # bytes a loan's sample keeps after the array for the tail
_TAIL = struct.Struct("<IQ")  # encoding length, message number
_INLINE_ARRAY = wire.EXT_NDARRAY
_REF = msgspec.msgpack.Encoder()
_REF_DEC = msgspec.msgpack.Decoder(tuple[int, str, tuple[int, ...]])
_UINT8 = pa.uint8()
_INT8 = pa.int8()
_INT32 = pa.int32()


class DoraCodec:
    """Encodes messages to Arrow arrays and back.

    ``port_types`` maps port names (as they appear in decoded messages) to declared
    types; structured values of those ports are rebuilt on decode.
    """

    __slots__ = ("_blobs", "_convert", "_decoder", "_encoder", "_views")

    def __init__(self, port_types: Mapping[str, Any] | None = None) -> None:
        self._convert = dict(port_types or {})
        self._blobs: list[np.ndarray] = []
        self._views: list[Any] = []
        self._encoder = msgspec.msgpack.Encoder(enc_hook=self._enc_hook)
        self._decoder = msgspec.msgpack.Decoder(ext_hook=self._ext_hook)

    # ------------------------------------------------------------------ encode
    def _enc_hook(self, obj: Any) -> Any:
        if (isinstance(obj, np.ndarray) and obj.nbytes >= OUT_OF_BAND
                and not obj.dtype.hasobject):
            dtype, shape = array_header(obj)
            index = len(self._blobs)
            self._blobs.append(np.ascontiguousarray(obj))
            ref = _REF.encode((index, dtype, shape))
            return msgspec.msgpack.Ext(EXT_BLOB, ref)
        # Everything else (small arrays, numpy scalars, dataclasses) the shared codec.
        return msgspec.Raw(wire.encode(obj))

    def encode_parts(self, message: Mapping[str, Any]) -> tuple[bytes, list[np.ndarray]]:
        """The encoding of ``message`` and its out-of-band arrays, in reference order."""
        self._blobs.clear()
        try:
            head = self._encoder.encode(message)
            blobs = list(self._blobs)
        finally:
            self._blobs.clear()
        return head, blobs

    def encode(self, message: Mapping[str, Any]) -> tuple[pa.Array, dict[str, Any]]:
        """One message as one Arrow array plus event metadata (see the module docs)."""
        head, blobs = self.encode_parts(message)
        if len(blobs) == 1:
            return uint8_view(blobs[0]), {HEADER_KEY: head.decode("latin-1")}
        header = _array_of(_UINT8, len(head), head)
        if not blobs:
            return header, {}
        children = [header] + [uint8_view(arr) for arr in blobs]
        count = len(children)
        types = _array_of(_INT8, count, bytes(range(count)))
        offsets = _array_of(_INT32, count, bytes(4 * count))  # every child's element 0
        return pa.UnionArray.from_dense(types, offsets, children), {}

    # ------------------------------------------------------------------ decode
    def _ext_hook(self, code: int, data: memoryview) -> Any:
        if code == EXT_BLOB:
            index, dtype, shape = _REF_DEC.decode(data)
            arr = array_view(self._views[index], dtype, shape)
            arr.flags.writeable = False  # it may view dora's shared memory
            return arr
        if code == _INLINE_ARRAY:
            # Re-wrap and let the shared codec decode its own extension type.
            return wire.decode(msgspec.msgpack.encode(msgspec.msgpack.Ext(code, bytes(data))))
        raise ValueError(f"unknown extension type {code} in a dora message")

    def decode(self, value: pa.Array, metadata: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        """Decode an event (value and metadata) made by :meth:`encode`."""
        text = metadata.get(HEADER_KEY) if metadata else None
        if text is not None:
            header: Any = text.encode("latin-1")
            self._views = [_bytes_view(value)]
        elif metadata and TAIL_KEY in metadata:
            body = _bytes_view(value)
            size = _TAIL.unpack(body[-_TAIL.size:])[0]
            header = bytes(body[-_TAIL.size - size:-_TAIL.size])
            self._views = [body]  # the array is at the start of the bytes
        elif isinstance(value, pa.UnionArray):
            count = value.type.num_fields
            header = value.field(0)
            self._views = [_bytes_view(value.field(i)) for i in range(1, count)]
        else:
            header = value
            self._views = []
        try:
            if not isinstance(header, bytes):
                header = _bytes_view(header)
            msg: dict[str, Any] = self._decoder.decode(header)
        finally:
            self._views = []
        for port, tp in self._convert.items():
            if port in msg:
                msg[port] = wire.convert(msg[port], tp)
        return msg


def write_tail(sample: memoryview, head: bytes, seq: int) -> bool:
    """Write a message's encoding and number at the end of ``sample`` (a loan's dora
    sample, whose array takes the start); False when the encoding does not fit."""
    end = len(sample) - _TAIL.size
    if len(head) > TAIL_ROOM - _TAIL.size:
        return False
    sample[end - len(head):end] = head
    sample[end:] = _TAIL.pack(len(head), seq)
    return True


def tail_seq(value: pa.Array) -> int:
    """The message number in the tail of a value sent with ``TAIL_KEY``."""
    body = _bytes_view(value)
    return int(_TAIL.unpack(body[-_TAIL.size:])[1])


def uint8_view(arr: np.ndarray) -> pa.Array:
    """A uint8 Arrow array viewing the bytes of a contiguous numpy array (no copy)."""
    buf = pa.py_buffer(arr.reshape(-1).view(np.uint8))
    return pa.Array.from_buffers(_UINT8, buf.size, [None, buf])


def _array_of(type_: Any, count: int, data: bytes) -> pa.Array:
    """An Arrow array of ``count`` fixed-width values viewing ``data`` (no copy).

    Arrays are built from buffers rather than with ``pa.array(ndarray)``: that call
    checks for a numpy masked array, and the first such check imports ``numpy.ma``,
    about 10 ms that a node would otherwise spend on its first message.
    """
    return pa.Array.from_buffers(type_, count, [None, pa.py_buffer(data)])


def _bytes_view(arr: pa.Array) -> Any:
    """The bytes of a uint8 Arrow array (a view when possible, no copy)."""
    buf = arr.buffers()[1]
    if buf is None:
        return b""
    start = arr.offset
    return memoryview(buf)[start:start + len(arr)]
