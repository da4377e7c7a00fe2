"""The frozen inference GraphDef the DeepSpeech 0.9.3 client runs.

Node names, dtypes and shapes follow docs/deepspeech-0.9.3-contract.md ("The inference
graph"): the client feeds `input_node`, `input_lengths`, `previous_state_c/h` and fetches
`logits`, `new_state_c/h`; it feeds `input_samples` and fetches `mfccs` for features; and
it reads the `metadata_*` constants. Only ops checked to be registered in the official
library are emitted (`ALLOWED_OPS`).
"""

from __future__ import annotations

import numpy as np

from dstorch.config.training import DEFAULT_BEAM_WIDTH, DEFAULT_N_STEPS
from dstorch.export.protobuf import DType, Node, Shape, Tensor
from dstorch.features import (
    CONTEXT_FRAMES,
    LOWER_HZ,
    N_INPUT,
    N_MEL,
    N_MFCC,
    SAMPLE_RATE,
    STEP,
    STEP_MS,
    UPPER_HZ,
    WINDOW,
    WINDOW_MS,
)

GRAPH_VERSION = 6  # metadata_version; the 0.9.3 client requires >= 6

# Ops verified to load and run in libdeepspeech.so 0.9.3 (the library registers only the
# kernels DeepSpeech needs; e.g. StridedSlice on float and ExpandDims are absent).
ALLOWED_OPS = frozenset(
    "Placeholder Const ImmutableConst Transpose Reshape MatMul BiasAdd Relu Minimum Max "
    "Cast BlockLSTM Sub Range Pack GatherNd Softmax Identity AudioSpectrogram Mfcc".split()
)

DENSE_LAYERS = ("layer_1", "layer_2", "layer_3", "layer_5", "layer_6")
WEIGHT_NAMES = [f"{layer}/{kind}" for layer in DENSE_LAYERS for kind in ("weights", "bias")]
WEIGHT_NAMES += ["lstm/kernel", "lstm/bias"]


class GraphBuilder:
    """Appends NodeDefs in topological order and hands back output names."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def op(self, name: str, op: str, inputs: list[str], **attrs: object) -> str:
        self.nodes.append(Node(name, op, list(inputs), dict(attrs)))
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        tensor = Tensor.of(np.asarray(value))
        return self.op(name, "Const", [], dtype=tensor.dtype, value=tensor)

    def int32(self, name: str, values: list[int] | int) -> str:
        return self.const(name, np.array(values, dtype=np.int32))

    def placeholder(self, name: str, dtype: DType, shape: tuple[int, ...]) -> str:
        return self.op(name, "Placeholder", [], dtype=dtype, shape=Shape(shape))

    def reshape(self, name: str, x: str, shape: list[int]) -> str:
        shape_node = self.int32(f"{name}/shape", shape)
        return self.op(name, "Reshape", [x, shape_node], T=DType.FLOAT, Tshape=DType.INT32)

    def dense(self, name: str, x: str, weights: dict[str, np.ndarray], clip: float | None) -> str:
        """x [n, in] -> [n, out]: xW + b, then min(relu(.), clip) unless clip is None."""
        w = self.const(f"{name}/weights", weights[f"{name}/weights"])
        b = self.const(f"{name}/bias", weights[f"{name}/bias"])
        y = self.op(
            f"{name}/MatMul", "MatMul", [x, w], T=DType.FLOAT, transpose_a=False, transpose_b=False
        )
        y = self.op(f"{name}/BiasAdd", "BiasAdd", [y, b], T=DType.FLOAT, data_format="NHWC")
        if clip is None:
            return y
        y = self.op(f"{name}/Relu", "Relu", [y], T=DType.FLOAT)
        limit = self.const(f"{name}/relu_clip", np.array(clip, dtype=np.float32))
        return self.op(f"{name}/Minimum", "Minimum", [y, limit], T=DType.FLOAT)


def add_features(g: GraphBuilder) -> None:
    """input_samples [512] -> mfccs [1, 26], the client's per-window feature graph."""
    samples = g.placeholder("input_samples", DType.FLOAT, (WINDOW,))
    # AudioSpectrogram wants [samples, channels]; Reshape because ExpandDims is not
    # registered in the library.
    samples = g.reshape("features/samples", samples, [WINDOW, 1])
    spectrogram = g.op(
        "features/AudioSpectrogram",
        "AudioSpectrogram",
        [samples],
        window_size=WINDOW,
        stride=STEP,
        magnitude_squared=True,
    )
    rate = g.const("features/sample_rate", np.array(SAMPLE_RATE, dtype=np.int32))
    mfcc = g.op(
        "features/Mfcc",
        "Mfcc",
        [spectrogram, rate],
        upper_frequency_limit=UPPER_HZ,
        lower_frequency_limit=LOWER_HZ,
        filterbank_channel_count=N_MEL,
        dct_coefficient_count=N_MFCC,
    )
    mfcc = g.reshape("features/mfcc_frames", mfcc, [-1, N_MFCC])
    g.op("mfccs", "Identity", [mfcc], T=DType.FLOAT)


def add_lstm(g: GraphBuilder, x: str, weights: dict[str, np.ndarray], n_cell: int) -> str:
    """x [T, 1, n] -> h [T, 1, n_cell]; emits new_state_c/h taken at input_lengths - 1."""
    max_len = g.op(
        "lstm/max_length",
        "Max",
        ["input_lengths", g.int32("lstm/axis", [0])],
        T=DType.INT32,
        Tidx=DType.INT32,
        keep_dims=False,
    )
    seq_len_max = g.op(
        "lstm/seq_len_max", "Cast", [max_len], SrcT=DType.INT32, DstT=DType.INT64, Truncate=False
    )
    zeros = np.zeros(n_cell, dtype=np.float32)  # no peepholes
    peepholes = [g.const(f"lstm/{n}", zeros) for n in ("wci", "wcf", "wco")]
    kernel = g.const("lstm/kernel", weights["lstm/kernel"])
    bias = g.const("lstm/bias", weights["lstm/bias"])
    g.op(
        "lstm/BlockLSTM",
        "BlockLSTM",
        [seq_len_max, x, "previous_state_c", "previous_state_h", kernel, *peepholes, bias],
        T=DType.FLOAT,
        forget_bias=0.0,
        cell_clip=-1.0,
        use_peephole=False,
    )
    # BlockLSTM outputs: i, cs, f, o, ci, co, h. The carried state is the one after the
    # last real step, gathered as [[length - 1, batch index]] (StridedSlice on float is
    # not registered in the library).
    last = g.op("lstm/last_step", "Sub", ["input_lengths", g.int32("lstm/one", 1)], T=DType.INT32)
    batch = g.op(
        "lstm/batch_index",
        "Range",
        [
            g.int32("lstm/range_start", 0),
            g.int32("lstm/range_limit", 1),
            g.int32("lstm/range_delta", 1),
        ],
        Tidx=DType.INT32,
    )
    index = g.op("lstm/final_index", "Pack", [last, batch], N=2, T=DType.INT32, axis=1)
    for state, output in (("c", 1), ("h", 6)):
        final = g.op(
            f"lstm/final_{state}",
            "GatherNd",
            [f"lstm/BlockLSTM:{output}", index],
            Tparams=DType.FLOAT,
            Tindices=DType.INT32,
        )
        g.op(f"new_state_{state}", "Identity", [final], T=DType.FLOAT)
    return "lstm/BlockLSTM:6"


def add_metadata(g: GraphBuilder, alphabet: bytes, beam_width: int) -> None:
    """The metadata constants the client reads at load time (all shape [1])."""
    g.int32("metadata_version", [GRAPH_VERSION])
    g.int32("metadata_sample_rate", [SAMPLE_RATE])
    g.int32("metadata_feature_win_len", [WINDOW_MS])
    g.int32("metadata_feature_win_step", [STEP_MS])
    g.int32("metadata_beam_width", [beam_width])
    tensor = Tensor(DType.STRING, (1,), strings=[alphabet])
    g.op("metadata_alphabet", "Const", [], dtype=DType.STRING, value=tensor)


def check_weights(weights: dict[str, np.ndarray], n_labels: int) -> tuple[int, int]:
    """Validate tf_weights() shapes; -> (n_hidden, n_classes)."""
    missing = [n for n in WEIGHT_NAMES if n not in weights]
    if missing:
        raise ValueError(f"weights missing {missing}; pass DeepSpeech.tf_weights()")
    n_hidden = weights["layer_1/weights"].shape[1]
    n_classes = weights["layer_6/bias"].shape[0]
    if weights["layer_1/weights"].shape[0] != N_INPUT:
        raise ValueError(f"layer_1 expects {N_INPUT} inputs (19 frames x 26 MFCCs)")
    if weights["lstm/kernel"].shape[1] % 4:
        raise ValueError("lstm/kernel must have 4 * n_cell columns")
    if n_classes != n_labels + 1:
        raise ValueError(
            f"model has {n_classes} output classes but the alphabet has {n_labels} labels; "
            "the output layer needs alphabet size + 1 (blank) classes"
        )
    return n_hidden, n_classes


def build_graph(
    weights: dict[str, np.ndarray],
    alphabet: bytes,
    n_labels: int,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
    relu_clip: float = 20.0,
) -> list[Node]:
    """The inference graph's nodes in topological order.

    weights: `DeepSpeech.tf_weights()`; alphabet: `Alphabet.serialize()`; n_labels:
    len(alphabet); relu_clip: the model's clipped-ReLU ceiling.
    input_node [1, n_steps, 19, 26] -> logits [n_steps, 1, n_classes].
    """
    if n_steps < 1 or beam_width < 1:
        raise ValueError("n_steps and beam_width must be positive")
    n_hidden, n_classes = check_weights(weights, n_labels)
    n_cell = weights["lstm/kernel"].shape[1] // 4
    g = GraphBuilder()
    g.placeholder("input_node", DType.FLOAT, (1, n_steps, CONTEXT_FRAMES, N_MFCC))
    g.placeholder("input_lengths", DType.INT32, (1,))
    g.placeholder("previous_state_c", DType.FLOAT, (1, n_cell))
    g.placeholder("previous_state_h", DType.FLOAT, (1, n_cell))
    add_features(g)
    # DeepSpeech works time-major: [1, T, 19, 26] -> [T, 1, 19, 26] -> [T, 494].
    x = g.op(
        "transpose",
        "Transpose",
        ["input_node", g.int32("transpose/perm", [1, 0, 2, 3])],
        T=DType.FLOAT,
        Tperm=DType.INT32,
    )
    x = g.reshape("input_reshaped", x, [-1, N_INPUT])
    for name in ("layer_1", "layer_2", "layer_3"):
        x = g.dense(name, x, weights, clip=relu_clip)
    x = g.reshape("lstm/input", x, [-1, 1, n_hidden])
    x = add_lstm(g, x, weights, n_cell)
    x = g.reshape("lstm/output", x, [-1, n_cell])
    x = g.dense("layer_5", x, weights, clip=relu_clip)
    x = g.dense("layer_6", x, weights, clip=None)
    x = g.reshape("raw_logits", x, [-1, 1, n_classes])
    g.op("logits", "Softmax", [x], T=DType.FLOAT)
    add_metadata(g, alphabet, beam_width)
    return g.nodes
