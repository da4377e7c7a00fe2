"""A writer for TensorFlow Lite's model flatbuffer (schema version 3, file id "TFL3").

Only the part of tensorflow/lite/schema/schema.fbs the DeepSpeech graph needs: tensors
(float32, int32, string), builtin operators with their options tables, and custom
operators with flexbuffer options. Field slot numbers below are the schema's field order
(a union takes two slots: its type byte, then its table); enum values are the schema's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGN = 16  # Buffer.data is (force_align: 16) so kernels may read it in place


class TensorType(IntEnum):
    FLOAT32 = 0
    INT32 = 2
    STRING = 5


NUMPY_TYPES = {np.dtype(np.float32): TensorType.FLOAT32, np.dtype(np.int32): TensorType.INT32}


class BuiltinOp(IntEnum):
    ADD = 0
    CONCATENATION = 2
    FULLY_CONNECTED = 9
    LOGISTIC = 14
    MUL = 18
    RESHAPE = 22
    RNN = 24
    SOFTMAX = 25
    TANH = 28
    CUSTOM = 32
    SPLIT = 49
    MINIMUM = 57


class Activation(IntEnum):
    NONE = 0
    RELU = 1


# BuiltinOptions union member index of each op's options table (0 is NONE).
OPTIONS_UNION = {
    BuiltinOp.RNN: 7,
    BuiltinOp.FULLY_CONNECTED: 8,
    BuiltinOp.SOFTMAX: 9,
    BuiltinOp.CONCATENATION: 10,
    BuiltinOp.ADD: 11,
    BuiltinOp.RESHAPE: 17,
    BuiltinOp.MUL: 21,
    BuiltinOp.SPLIT: 35,
    BuiltinOp.MINIMUM: 39,  # MaximumMinimumOptions, an empty table
}


@dataclass(frozen=True)
class Field:
    """One scalar or int-vector field of an options table: slot, kind, value."""

    slot: int
    kind: str  # "int8", "int32", "float32" or "int32s"
    value: int | float | tuple[int, ...]


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: TensorType
    data: bytes | None = None  # constant contents; None: computed or fed at run time
    variable: bool = False  # state an operator updates in place (zeroed at allocation)


@dataclass
class Operator:
    opcode: BuiltinOp | str  # a builtin, or the name of a custom op
    inputs: list[int]
    outputs: list[int]
    options: list[Field] = field(default_factory=list)
    custom_options: bytes | None = None


def string_tensor_data(strings: list[bytes]) -> bytes:
    """TFLite's string tensor layout: int32 count, int32 offsets[count + 1], the bytes."""
    header = 4 * (len(strings) + 2)
    offsets = [header]
    for s in strings:
        offsets.append(offsets[-1] + len(s))
    return np.array([len(strings), *offsets], dtype="<i4").tobytes() + b"".join(strings)


def flexbuffer_map(values: dict[str, int | bool]) -> bytes:
    """Custom op options as the flexbuffer map the TFLite kernels read."""
    return bytes(flexbuffers.Dumps(values))


class ModelWriter:
    """Collects tensors and operators of one subgraph, then serialises the model."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.operators: list[Operator] = []
        self._names: set[str] = set()

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: TensorType,
        data: bytes | None = None,
        variable: bool = False,
    ) -> int:
        """Add a tensor; -> its index. Names are unique (the client looks tensors up by name)."""
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name!r}")
        self._names.add(name)
        self.tensors.append(Tensor(name, tuple(int(d) for d in shape), dtype, data, variable))
        return len(self.tensors) - 1

    def const(self, name: str, value: np.ndarray) -> int:
        """A constant float32/int32 tensor holding `value` (little-endian, row-major)."""
        value = np.asarray(value)
        dtype = NUMPY_TYPES.get(value.dtype)
        if dtype is None:
            raise ValueError(f"{name}: unsupported constant dtype {value.dtype}")
        data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
        return self.tensor(name, value.shape, dtype, data)

    def op(
        self,
        opcode: BuiltinOp | str,
        inputs: list[int],
        outputs: list[int],
        options: list[Field] | None = None,
        custom_options: bytes | None = None,
    ) -> None:
        known = set(range(len(self.tensors)))
        if not set(inputs) | set(outputs) <= known:
            raise ValueError(f"{opcode}: tensor index out of range")
        self.operators.append(Operator(opcode, inputs, outputs, options or [], custom_options))

    def serialize(self, inputs: list[int], outputs: list[int], description: str = "") -> bytes:
        """-> the .tflite file: one subgraph with these input and output tensor indices."""
        return _Serializer(self).model(inputs, outputs, description)


class _Serializer:
    """Builds the flatbuffer bottom-up (children before the tables that point at them)."""

    def __init__(self, writer: ModelWriter):
        self.w = writer
        self.b = flatbuffers.Builder(1 << 16)

    def model(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        b = self.b
        codes = self._opcodes()
        buffers, buffer_of = self._buffers()
        tensors = [self._tensor(t, buffer_of[i]) for i, t in enumerate(self.w.tensors)]
        operators = [self._operator(o, codes) for o in self.w.operators]
        subgraph = self._subgraph(tensors, operators, inputs, outputs)
        code_tables = [self._opcode_table(code) for code in codes]
        desc = b.CreateString(description)
        fields = [
            (1, self._offsets(code_tables)),
            (2, self._offsets([subgraph])),
            (3, desc),
            (4, self._offsets(buffers)),
        ]
        b.StartObject(5)
        b.PrependUint32Slot(0, SCHEMA_VERSION, 0)
        for slot, offset in fields:
            b.PrependUOffsetTRelativeSlot(slot, offset, 0)
        b.Finish(b.EndObject(), file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())

    def _offsets(self, offsets: list[int]) -> int:
        self.b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            self.b.PrependUOffsetTRelative(offset)
        return self.b.EndVector()

    def _ints(self, values: list[int] | tuple[int, ...]) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

    def _opcodes(self) -> list[BuiltinOp | str]:
        codes: list[BuiltinOp | str] = []
        for o in self.w.operators:
            if o.opcode not in codes:
                codes.append(o.opcode)
        return codes

    def _opcode_table(self, code: BuiltinOp | str) -> int:
        b = self.b
        custom = b.CreateString(code) if isinstance(code, str) else None
        b.StartObject(3)
        builtin = BuiltinOp.CUSTOM if isinstance(code, str) else code
        b.PrependInt8Slot(0, int(builtin), -1)  # -1: never the default, always written
        if custom is not None:
            b.PrependUOffsetTRelativeSlot(1, custom, 0)
        b.PrependInt32Slot(2, 1, 0)  # version 1 of every kernel
        return b.EndObject()

    def _buffers(self) -> tuple[list[int], list[int]]:
        """Buffer 0 is the schema's empty sentinel; each constant gets its own."""
        tables, buffer_of = [self._buffer(None)], []
        for t in self.w.tensors:
            if t.data is None:
                buffer_of.append(0)
            else:
                buffer_of.append(len(tables))
                tables.append(self._buffer(t.data))
        return tables, buffer_of

    def _buffer(self, data: bytes | None) -> int:
        b = self.b
        vector = None
        if data is not None:
            b.StartVector(1, len(data), BUFFER_ALIGN)
            b.head -= len(data)
            b.Bytes[b.head : b.head + len(data)] = data
            vector = b.EndVector()
        b.StartObject(1)
        if vector is not None:
            b.PrependUOffsetTRelativeSlot(0, vector, 0)
        return b.EndObject()

    def _tensor(self, t: Tensor, buffer: int) -> int:
        b = self.b
        shape, name = self._ints(t.shape), b.CreateString(t.name)
        b.StartObject(6)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, int(t.dtype), -1)
        b.PrependUint32Slot(2, buffer, 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        b.PrependBoolSlot(5, t.variable, False)  # slot 4: quantization, unused
        return b.EndObject()

    def _options(self, opcode: BuiltinOp, fields: list[Field]) -> int:
        b = self.b
        vectors = {f.slot: self._ints(f.value) for f in fields if f.kind == "int32s"}
        b.StartObject(max((f.slot for f in fields), default=-1) + 1)
        for f in fields:
            if f.kind == "int32s":
                b.PrependUOffsetTRelativeSlot(f.slot, vectors[f.slot], 0)
            elif f.kind == "int8":
                b.PrependInt8Slot(f.slot, int(f.value), 0)
            elif f.kind == "int32":
                b.PrependInt32Slot(f.slot, int(f.value), 0)
            elif f.kind == "float32":
                b.PrependFloat32Slot(f.slot, float(f.value), 0.0)
            else:
                raise ValueError(f"{opcode.name}: unknown option kind {f.kind!r}")
        return b.EndObject()

    def _operator(self, o: Operator, codes: list[BuiltinOp | str]) -> int:
        b = self.b
        inputs, outputs = self._ints(o.inputs), self._ints(o.outputs)
        union = OPTIONS_UNION.get(o.opcode) if isinstance(o.opcode, BuiltinOp) else None
        options = self._options(o.opcode, o.options) if union else None
        custom = None
        if o.custom_options is not None:
            custom = b.CreateByteVector(o.custom_options)
        b.StartObject(7)
        b.PrependUint32Slot(0, codes.index(o.opcode), 0)
        b.PrependUOffsetTRelativeSlot(1, inputs, 0)
        b.PrependUOffsetTRelativeSlot(2, outputs, 0)
        if options is not None:
            b.PrependUint8Slot(3, union, 0)
            b.PrependUOffsetTRelativeSlot(4, options, 0)
        if custom is not None:
            b.PrependUOffsetTRelativeSlot(5, custom, 0)  # format 6: FLEXBUFFERS = 0, default
        return b.EndObject()

    def _subgraph(
        self, tensors: list[int], operators: list[int], inputs: list[int], outputs: list[int]
    ) -> int:
        b = self.b
        fields = [
            self._offsets(tensors),
            self._ints(inputs),
            self._ints(outputs),
            self._offsets(operators),
            b.CreateString("main"),
        ]
        b.StartObject(5)
        for slot, offset in enumerate(fields):
            b.PrependUOffsetTRelativeSlot(slot, offset, 0)
        return b.EndObject()
