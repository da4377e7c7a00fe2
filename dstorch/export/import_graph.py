"""Read an exported `.pb` / `.pbmm` back: its weights as numpy arrays, or a PyTorch DeepSpeech.

So that `dstorch transcribe` runs the very file the official client runs: the weights
are read from the GraphDef (and, for `.pbmm`, from its memory-mapped regions), found by
the graph's structure rather than by node names: the five dense layers are the MatMul
nodes in order, with their BiasAdd biases and the Minimum clip; the LSTM is the
BlockLSTM node (kernel [in + units, 4 * units] with gate blocks i, c, f, o, x rows
first). The input normalisation is folded into layer_1 at export, so the rebuilt model
has identity normalisation.

`read_graph` needs only numpy (the lean inference path, dstorch.inference, runs on it);
torch is imported by `build_torch_model` alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dstorch.bytes_mode import BYTE_LABELS
from dstorch.errors import DstorchError
from dstorch.export.pbmm import read_pbmm
from dstorch.export.protobuf import NUMPY_DTYPES, Node, Shape, Tensor, decode_graph

if TYPE_CHECKING:
    from dstorch.model import DeepSpeech


class GraphImportError(DstorchError, ValueError):
    """A file that is not a DeepSpeech 0.9.3 inference graph we can read."""


@dataclass
class GraphWeights:
    """What an exported graph computes, in its own layout (float32 arrays).

    dense: (weights [in, out], bias [out]) of layer_1 (normalisation folded in), layer_2,
    layer_3, layer_5, layer_6; lstm_kernel [n_hidden + n_hidden, 4 * n_hidden], x rows
    first, gate blocks i, c, f, o; lstm_bias [4 * n_hidden] with the forget bias folded in.
    """

    dense: list[tuple[np.ndarray, np.ndarray]]
    lstm_kernel: np.ndarray
    lstm_bias: np.ndarray
    relu_clip: float
    labels: list[str]
    beam_width: int  # metadata_beam_width, the client's default
    n_steps: int  # time steps per acoustic model call, from input_node's shape

    @property
    def n_hidden(self) -> int:
        return self.dense[0][0].shape[1]

    @property
    def n_classes(self) -> int:
        return self.dense[4][0].shape[1]


@dataclass
class GraphModel:
    model: DeepSpeech  # eval mode
    labels: list[str]
    beam_width: int  # metadata_beam_width, the client's default
    n_steps: int  # time steps per acoustic model call, from input_node's shape


def parse_alphabet(data: bytes) -> list[str]:
    """The client's serialized alphabet: u16 count, then (u16 index, u16 length, utf-8).

    A bytes output mode model's labels are single raw bytes (UTF8Alphabet): BYTE_LABELS.
    """
    (count,), pos, raw = struct.unpack_from("<H", data), 2, []
    for _ in range(count):
        _, length = struct.unpack_from("<HH", data, pos)
        raw.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    if raw == [bytes([b]) for b in range(1, 256)]:
        return list(BYTE_LABELS)
    return [label.decode("utf-8") for label in raw]


def read_graph_file(path: str | Path) -> dict[str, Node]:
    """Nodes by name of a .pb, or of a .pbmm with ImmutableConsts turned back into Consts."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GraphImportError(f"cannot read model {path}: {exc.strerror}") from None
    try:
        if ".pbmm" in path.name:  # the client's rule: any path containing .pbmm is mmapped
            directory, nodes = read_pbmm(data)
            regions = {name: (offset, length) for offset, name, length in directory}
            nodes = [_resolve_region(node, data, regions) for node in nodes]
        else:
            nodes = decode_graph(data)
    except (ValueError, KeyError, IndexError, struct.error) as exc:
        kind = "memory-mapped graph (.pbmm)" if ".pbmm" in path.name else "GraphDef (.pb)"
        raise GraphImportError(f"{path}: not a readable {kind} ({exc}); re-export it") from None
    return {node.name: node for node in nodes}


def _resolve_region(node: Node, data: bytes, regions: dict[str, tuple[int, int]]) -> Node:
    """An ImmutableConst as the Const it was, its tensor read from the region."""
    if node.op != "ImmutableConst":
        return node
    offset, length = regions[node.attrs["memory_region_name"].decode("utf-8")]
    dtype, shape = node.attrs["dtype"], node.attrs["shape"]
    array = np.frombuffer(data, NUMPY_DTYPES[dtype], length // NUMPY_DTYPES[dtype].itemsize, offset)
    tensor = Tensor(dtype, shape.dims, array.reshape(shape.dims))
    return Node(node.name, "Const", [], {"dtype": dtype, "value": tensor})


def _const(nodes: dict[str, Node], name: str) -> np.ndarray:
    """The array behind a node input, through Identity nodes ("name:0" allowed)."""
    node = nodes.get(name.split(":")[0].lstrip("^"))
    while node is not None and node.op == "Identity":
        node = nodes.get(node.inputs[0].split(":")[0])
    if node is None or node.op != "Const":
        raise GraphImportError(f"graph input {name!r} is not a constant; re-export the model")
    value = node.attrs["value"]
    return value.array if value.array is not None else np.asarray(value.strings)


def _dense_layers(nodes: dict[str, Node]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weights [in, out], bias [out]) of each MatMul + BiasAdd, in graph order."""
    bias_of = {n.inputs[0].split(":")[0]: n for n in nodes.values() if n.op == "BiasAdd"}
    layers = []
    for node in nodes.values():
        if node.op == "MatMul":
            if node.name not in bias_of:
                raise GraphImportError(f"MatMul {node.name} has no BiasAdd; re-export the model")
            bias = _const(nodes, bias_of[node.name].inputs[1])
            layers.append((_const(nodes, node.inputs[1]), bias))
    return layers


def _lstm(nodes: dict[str, Node]) -> tuple[np.ndarray, np.ndarray]:
    """BlockLSTM kernel [in + units, 4 * units] and bias [4 * units], forget bias folded."""
    cells = [n for n in nodes.values() if n.op == "BlockLSTM"]
    if len(cells) != 1:
        raise GraphImportError(f"expected one BlockLSTM node, found {len(cells)}")
    cell = cells[0]
    if cell.attrs.get("use_peephole") or cell.attrs.get("cell_clip", -1.0) > 0:
        raise GraphImportError("BlockLSTM with peepholes or a cell clip is not supported")
    kernel, bias = _const(nodes, cell.inputs[4]), _const(nodes, cell.inputs[8]).copy()
    units = kernel.shape[1] // 4
    bias[2 * units : 3 * units] += np.float32(cell.attrs.get("forget_bias", 0.0))  # f gate
    return kernel, bias


def _metadata(nodes: dict[str, Node], name: str) -> Node:
    if name not in nodes:
        raise GraphImportError(f"no {name} node: not a DeepSpeech 0.9.3 model; re-export it")
    return nodes[name]


def graph_weights(nodes: dict[str, Node]) -> GraphWeights:
    """The weights and metadata of a graph's nodes, checked to fit together."""
    dense = _dense_layers(nodes)
    if len(dense) != 5:
        raise GraphImportError(f"expected 5 dense layers (MatMul), found {len(dense)}")
    kernel, bias = _lstm(nodes)
    alphabet = _metadata(nodes, "metadata_alphabet").attrs["value"].strings[0]
    labels = parse_alphabet(alphabet)
    beam = int(_const(nodes, "metadata_beam_width").reshape(-1)[0])
    shape = _metadata(nodes, "input_node").attrs.get("shape", Shape((1, 16)))
    clips = [n for n in nodes.values() if n.op == "Minimum"]
    clip = float(_const(nodes, clips[0].inputs[1])) if clips else 20.0
    n_hidden, n_classes = dense[0][0].shape[1], dense[4][0].shape[1]
    if n_classes != len(labels) + 1:
        raise GraphImportError(f"{n_classes} outputs for {len(labels)} labels + blank")
    units, n_in = kernel.shape[1] // 4, kernel.shape[0] - kernel.shape[1] // 4
    if units != n_hidden or n_in != n_hidden:
        raise GraphImportError(f"LSTM {n_in} -> {units} does not fit dense layers of {n_hidden}")
    return GraphWeights(dense, kernel, bias, clip, labels, beam, int(shape.dims[1]))


def read_graph(path: str | Path) -> GraphWeights:
    """The weights of a .pb or .pbmm exported for the DeepSpeech 0.9.3 client (no torch)."""
    return graph_weights(read_graph_file(path))


def build_torch_model(weights: GraphWeights) -> GraphModel:
    """A DeepSpeech (eval, identity normalisation) with the graph's weights."""
    import torch

    from dstorch.model import DeepSpeech

    n_hidden, kernel, bias = weights.n_hidden, weights.lstm_kernel, weights.lstm_bias
    model = DeepSpeech(
        weights.n_classes, n_hidden=n_hidden, relu_clip=weights.relu_clip, dropout_rate=0.0
    )
    with torch.no_grad():
        for layer, (w, b) in zip(
            (model.layer_1, model.layer_2, model.layer_3, model.layer_5, model.layer_6),
            weights.dense,
            strict=True,
        ):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            layer.bias.copy_(torch.from_numpy(np.array(b)))
        order = [0, 2, 1, 3]  # torch gates i, f, g, o from BlockLSTM's i, c, f, o

        def regate(t: np.ndarray) -> torch.Tensor:
            blocks = np.split(t, 4, axis=-1)
            return torch.from_numpy(np.concatenate([blocks[k] for k in order], axis=-1))

        model.lstm.weight_ih_l0.copy_(regate(kernel[:n_hidden]).T)
        model.lstm.weight_hh_l0.copy_(regate(kernel[n_hidden:]).T)
        model.lstm.bias_ih_l0.copy_(regate(bias))
        model.lstm.bias_hh_l0.zero_()
    return GraphModel(model.eval(), weights.labels, weights.beam_width, weights.n_steps)


def load_graph_model(path: str | Path) -> GraphModel:
    """Read a .pb or .pbmm exported for the DeepSpeech 0.9.3 client into torch."""
    return build_torch_model(read_graph(path))
