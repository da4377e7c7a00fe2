"""TensorFlow's memmapped package format (`.pbmm`), written without TensorFlow.

Layout (contract, "The .pbmm file"), as TF's convert_graphdef_memmapped_format writes it:
large numeric Consts become `ImmutableConst` nodes whose data live in 64-byte aligned
regions; then the modified GraphDef as region `memmapped_package://.`; then the
MemmappedFileSystemDirectory protobuf; then the directory's offset as a uint64 LE.
The client mmaps the file and `ImmutableConst` points straight into it, which is why
regions must be aligned (TF rejects unaligned regions).
"""

from __future__ import annotations

import re
import struct
from dataclasses import replace

from dstorch.export.protobuf import (
    NUMPY_DTYPES,
    Node,
    Shape,
    Tensor,
    decode_directory,
    decode_graph,
    encode_directory,
    encode_graph,
)

ALIGN = 64
MIN_MEMMAPPED_BYTES = 10000  # TF converts Consts of at least this many bytes
PREFIX = "memmapped_package://"
GRAPH_REGION = PREFIX + "."
TRAILER = struct.Struct("<Q")


def region_name(node_name: str, used: set[str]) -> str:
    """memmapped_package:// + node name, chars outside [A-Za-z0-9_.] -> '_', unique."""
    name = PREFIX + re.sub(r"[^A-Za-z0-9_.]", "_", node_name)
    while name in used:
        name += "_"
    used.add(name)
    return name


def is_memmappable(node: Node) -> bool:
    value = node.attrs.get("value")
    return (
        node.op == "Const"
        and isinstance(value, Tensor)
        and value.dtype in NUMPY_DTYPES  # strings stay Const
        and value.nbytes >= MIN_MEMMAPPED_BYTES
    )


def split_constants(nodes: list[Node]) -> tuple[list[Node], list[tuple[str, bytes]]]:
    """-> (graph with large Consts as ImmutableConst, [(region name, raw bytes)] in order)."""
    out, regions, used = [], [], {GRAPH_REGION}
    for node in nodes:
        if not is_memmappable(node):
            out.append(node)
            continue
        tensor = node.attrs["value"]
        name = region_name(node.name, used)
        attrs = {"dtype": tensor.dtype, "shape": Shape(tensor.shape), "memory_region_name": name}
        out.append(replace(node, op="ImmutableConst", attrs=attrs))
        regions.append((name, tensor.array.tobytes()))
    return out, regions


def pbmm_bytes(nodes: list[Node]) -> bytes:
    """The whole .pbmm file for a graph given as Const-only nodes."""
    graph, regions = split_constants(nodes)
    data, directory = bytearray(), []
    for name, raw in regions:
        data += bytes(-len(data) % ALIGN)
        directory.append((len(data), name, len(raw)))
        data += raw
    graph_bytes = encode_graph(graph)
    directory.append((len(data), GRAPH_REGION, len(graph_bytes)))
    data += graph_bytes
    directory_offset = len(data)
    data += encode_directory(directory)
    data += TRAILER.pack(directory_offset)
    return bytes(data)


def read_pbmm(data: bytes) -> tuple[list[tuple[int, str, int]], list[Node]]:
    """Parse a .pbmm: -> (directory [(offset, name, length)], GraphDef nodes)."""
    (directory_offset,) = TRAILER.unpack(data[-TRAILER.size :])
    directory = decode_directory(data[directory_offset : -TRAILER.size])
    regions = {name: (offset, length) for offset, name, length in directory}
    offset, length = regions[GRAPH_REGION]
    return directory, decode_graph(data[offset : offset + length])
