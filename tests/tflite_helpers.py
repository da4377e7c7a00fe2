"""Read a .tflite file back (the fields dstorch.export.flatbuffer writes), for tests.

Written from the TFLite schema independently of the writer: field slots are looked up by
their vtable offsets (4 + 2 * slot), so a slot mix-up in the writer shows here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table


@dataclass
class ReadTensor:
    name: str
    shape: tuple[int, ...]
    dtype: int
    buffer: int
    variable: bool


@dataclass
class ReadOperator:
    opcode: int | str  # builtin code, or the custom op's name
    inputs: list[int]
    outputs: list[int]
    options_type: int
    custom_options: bytes


@dataclass
class ReadModel:
    version: int
    tensors: list[ReadTensor]
    inputs: list[int]
    outputs: list[int]
    operators: list[ReadOperator]
    buffers: list[bytes]
    buffer_offsets: list[int]  # where each buffer's data starts in the file

    def names(self, indices: list[int]) -> list[str]:
        return [self.tensors[i].name for i in indices]

    def by_name(self, name: str) -> ReadTensor:
        return next(t for t in self.tensors if t.name == name)


def _field(tab: Table, slot: int) -> int:
    return tab.Offset(4 + 2 * slot)


def _scalar(tab: Table, slot: int, flags, default):
    o = _field(tab, slot)
    return tab.Get(flags, o + tab.Pos) if o else default


def _tables(tab: Table, slot: int) -> list[Table]:
    o = _field(tab, slot)
    if not o:
        return []
    start = tab.Vector(o)
    return [Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(o))]


def _ints(tab: Table, slot: int) -> list[int]:
    o = _field(tab, slot)
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)
    return np.frombuffer(bytes(tab.Bytes[start : start + 4 * n]), "<i4").tolist()


def _bytes(tab: Table, slot: int) -> tuple[bytes, int]:
    o = _field(tab, slot)
    if not o:
        return b"", 0
    start, n = tab.Vector(o), tab.VectorLen(o)
    return bytes(tab.Bytes[start : start + n]), start


def _string(tab: Table, slot: int) -> str:
    o = _field(tab, slot)
    return tab.String(o + tab.Pos).decode() if o else ""


def read_model(data: bytes) -> ReadModel:
    """Parse the root Model, its operator codes, first subgraph and buffers."""
    if data[4:8] != b"TFL3":
        raise ValueError("not a TFLite model (file identifier is not TFL3)")
    buf = bytearray(data)
    model = Table(buf, int.from_bytes(data[:4], "little"))
    codes = []
    for code in _tables(model, 1):
        builtin = _scalar(code, 0, N.Int8Flags, 0)
        codes.append(_string(code, 1) if builtin == 32 else builtin)
    (subgraph,) = _tables(model, 2)
    tensors = [
        ReadTensor(
            _string(t, 3),
            tuple(_ints(t, 0)),
            _scalar(t, 1, N.Int8Flags, 0),
            _scalar(t, 2, N.Uint32Flags, 0),
            bool(_scalar(t, 5, N.BoolFlags, False)),
        )
        for t in _tables(subgraph, 0)
    ]
    operators = [
        ReadOperator(
            codes[_scalar(o, 0, N.Uint32Flags, 0)],
            _ints(o, 1),
            _ints(o, 2),
            _scalar(o, 3, N.Uint8Flags, 0),
            _bytes(o, 5)[0],
        )
        for o in _tables(subgraph, 3)
    ]
    buffers = [_bytes(b, 0) for b in _tables(model, 4)]
    return ReadModel(
        _scalar(model, 0, N.Uint32Flags, 0),
        tensors,
        _ints(subgraph, 1),
        _ints(subgraph, 2),
        operators,
        [b for b, _ in buffers],
        [start for _, start in buffers],
    )
