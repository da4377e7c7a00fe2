"""A tiny protobuf wire-format encoder/decoder for the TensorFlow messages the export needs.

Only GraphDef, NodeDef, AttrValue, TensorProto, TensorShapeProto, VersionDef and
MemmappedFileSystemDirectory are written, so hand-encoding them keeps TensorFlow (and
generated protobuf classes) out of the dependencies. Field numbers are those of
tensorflow/core/framework/*.proto (stable since TF 1.0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

# TF 1.15's GRAPH_DEF_VERSION, what DeepSpeech 0.9.3's own export was produced with; the
# TF 2.3 runtime in the client accepts any producer >= 0.
GRAPH_PRODUCER = 134


class DType(IntEnum):
    """tensorflow.DataType values used by the graph."""

    FLOAT = 1
    INT32 = 3
    STRING = 7
    INT64 = 9
    BOOL = 10


NUMPY_DTYPES = {
    DType.FLOAT: np.dtype("<f4"),
    DType.INT32: np.dtype("<i4"),
    DType.INT64: np.dtype("<i8"),
    DType.BOOL: np.dtype("?"),
}


@dataclass(frozen=True)
class Shape:
    """A TensorShapeProto; -1 is an unknown dimension."""

    dims: tuple[int, ...]


@dataclass
class Tensor:
    """A TensorProto: numeric arrays go to tensor_content, strings to string_val."""

    dtype: DType
    shape: tuple[int, ...]
    array: np.ndarray | None = None  # numeric payload, row-major
    strings: list[bytes] | None = None  # DT_STRING payload

    @classmethod
    def of(cls, value: np.ndarray) -> Tensor:
        for dtype, np_dtype in NUMPY_DTYPES.items():
            if value.dtype == np_dtype:
                return cls(dtype, tuple(value.shape), np.ascontiguousarray(value, np_dtype))
        raise TypeError(f"unsupported tensor dtype {value.dtype}")

    @property
    def nbytes(self) -> int:
        return 0 if self.array is None else self.array.nbytes


AttrValue = DType | bool | int | float | str | bytes | Shape | Tensor


@dataclass
class Node:
    """A NodeDef. Attr values are typed by their Python type (see `encode_attr`)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, AttrValue] = field(default_factory=dict)


# --- encoding -----------------------------------------------------------------------


def varint(n: int) -> bytes:
    """Base-128 varint; negative int64 values use their 64-bit two's complement."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def field_varint(number: int, value: int) -> bytes:
    return tag(number, VARINT) + varint(value)


def field_bytes(number: int, value: bytes | str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return tag(number, LENGTH) + varint(len(raw)) + raw


def encode_shape(dims: tuple[int, ...]) -> bytes:
    """TensorShapeProto { repeated Dim dim = 2 { int64 size = 1 } }."""
    return b"".join(field_bytes(2, field_varint(1, d)) for d in dims)


def encode_tensor(t: Tensor) -> bytes:
    """TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4, string_val = 8."""
    out = field_varint(1, t.dtype) + field_bytes(2, encode_shape(t.shape))
    if t.dtype == DType.STRING:
        out += b"".join(field_bytes(8, s) for s in t.strings or [])
    elif t.array is not None and t.array.size:
        out += field_bytes(4, t.array.tobytes())
    return out


def encode_attr(value: AttrValue) -> bytes:
    """AttrValue oneof: s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8."""
    # Order matters: DType and bool are ints in Python.
    if isinstance(value, DType):
        return field_varint(6, value)
    if isinstance(value, bool):
        return field_varint(5, int(value))
    if isinstance(value, int):
        return field_varint(3, value)
    if isinstance(value, float):
        return tag(4, FIXED32) + struct.pack("<f", value)
    if isinstance(value, str | bytes):
        return field_bytes(2, value)
    if isinstance(value, Shape):
        return field_bytes(7, encode_shape(value.dims))
    if isinstance(value, Tensor):
        return field_bytes(8, encode_tensor(value))
    raise TypeError(f"unsupported attr value {value!r}")


def encode_node(node: Node) -> bytes:
    """NodeDef: name = 1, op = 2, input = 3, attr = 5 (map entries key = 1, value = 2)."""
    out = field_bytes(1, node.name) + field_bytes(2, node.op)
    out += b"".join(field_bytes(3, i) for i in node.inputs)
    for key in sorted(node.attrs):  # sorted: byte-identical output for identical graphs
        entry = field_bytes(1, key) + field_bytes(2, encode_attr(node.attrs[key]))
        out += field_bytes(5, entry)
    return out


def encode_graph(nodes: list[Node]) -> bytes:
    """GraphDef: node = 1, versions = 4 (VersionDef producer = 1)."""
    body = b"".join(field_bytes(1, encode_node(n)) for n in nodes)
    return body + field_bytes(4, field_varint(1, GRAPH_PRODUCER))


def encode_directory(elements: list[tuple[int, str, int]]) -> bytes:
    """MemmappedFileSystemDirectory { element = 1 { offset = 1, name = 2, length = 3 } }."""
    out = b""
    for offset, name, length in elements:
        element = field_varint(1, offset) + field_bytes(2, name) + field_varint(3, length)
        out += field_bytes(1, element)
    return out


# --- decoding (tests and inspection) -----------------------------------------------


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def parse(data: bytes) -> list[tuple[int, int | bytes]]:
    """Split a message into (field number, value) pairs; LENGTH fields stay raw bytes."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == FIXED64:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire_type == FIXED32:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire_type == LENGTH:
            size, pos = read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire_type} at byte {pos}")
        fields.append((number, value))
    if pos != len(data):
        raise ValueError("truncated protobuf message")
    return fields


def decode_shape(data: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in parse(data):
        if number == 2:
            size = dict(parse(value)).get(1, 0)
            dims.append(size - (1 << 64) if size >= 1 << 63 else size)
    return tuple(dims)


def decode_tensor(data: bytes) -> Tensor:
    fields = parse(data)
    values = dict(fields)
    dtype, shape = DType(values[1]), decode_shape(values.get(2, b""))
    if dtype == DType.STRING:
        return Tensor(dtype, shape, strings=[v for n, v in fields if n == 8])
    raw = values.get(4, b"")
    array = np.frombuffer(raw, NUMPY_DTYPES[dtype]).reshape(shape)
    return Tensor(dtype, shape, array=array)


def decode_attr(data: bytes) -> AttrValue:
    (number, value), *_ = parse(data)
    decoders = {
        2: lambda v: v,
        3: lambda v: v - (1 << 64) if v >= 1 << 63 else v,
        4: lambda v: struct.unpack("<f", v)[0],
        5: bool,
        6: DType,
        7: lambda v: Shape(decode_shape(v)),
        8: decode_tensor,
    }
    if number not in decoders:
        raise ValueError(f"unsupported AttrValue field {number}")
    return decoders[number](value)


def decode_node(data: bytes) -> Node:
    node = Node(name="", op="")
    for number, value in parse(data):
        if number == 1:
            node.name = value.decode("utf-8")
        elif number == 2:
            node.op = value.decode("utf-8")
        elif number == 3:
            node.inputs.append(value.decode("utf-8"))
        elif number == 5:
            entry = dict(parse(value))
            node.attrs[entry[1].decode("utf-8")] = decode_attr(entry[2])
    return node


def decode_graph(data: bytes) -> list[Node]:
    """GraphDef bytes -> nodes (versions and library are ignored)."""
    return [decode_node(value) for number, value in parse(data) if number == 1]


def decode_directory(data: bytes) -> list[tuple[int, str, int]]:
    """MemmappedFileSystemDirectory bytes -> [(offset, name, length)]."""
    out = []
    for number, value in parse(data):
        if number == 1:
            e = dict(parse(value))
            out.append((e.get(1, 0), e.get(2, b"").decode("utf-8"), e.get(3, 0)))
    return out
