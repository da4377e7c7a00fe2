"""The `.tflite` model the DeepSpeech 0.9.3 TFLite client (`deepspeech-tflite`) runs.

The TFLite client (native_client/tflitemodelstate.cc) finds its tensors by name among the
subgraph's inputs (`input_node`, `previous_state_c/h`, `input_samples`) and outputs
(`logits`, `new_state_c/h`, `mfccs`, `metadata_*`). It runs three execution plans cut from
the one graph: each metadata output's producing operator (so every metadata value must come
out of an operator, not be a bare constant), the operators `mfccs` depends on, and all the
rest as the acoustic model. There is no `input_lengths`: the client zero-pads the last
batch and reads only the logits of its real steps; the state it carries on is never used
after a padded batch, which is always the last.

The network is the same as the GraphDef's (dstorch.export.graph), with TFLite builtins:
FULLY_CONNECTED with fused ReLU then MINIMUM for the clipped ReLU, and the LSTM unrolled
over the n_steps fixed steps as TensorFlow's LSTMCell computes it (concatenate [x, h],
one matmul plus bias, gates i, c, f, o, forget bias 0). Features are the AudioSpectrogram
and Mfcc custom ops, which the client's BuiltinOpResolver registers.
"""

from __future__ import annotations

import numpy as np

from dstorch.config.training import DEFAULT_BEAM_WIDTH, DEFAULT_N_STEPS
from dstorch.export.flatbuffer import (
    Activation,
    BuiltinOp,
    Field,
    ModelWriter,
    TensorType,
    flexbuffer_map,
    string_tensor_data,
)
from dstorch.export.graph import GRAPH_VERSION, check_weights
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

# The clearing RNN's weights, recurrent weights and bias: one unit, one input feature.
_RNN_ZEROS = (("weights", (1, 1)), ("recurrent_weights", (1, 1)), ("bias", (1,)))
INPUTS = ("input_node", "previous_state_c", "previous_state_h", "input_samples")
OUTPUTS = ("logits", "new_state_c", "new_state_h", "mfccs")
METADATA = (
    "metadata_version",
    "metadata_sample_rate",
    "metadata_feature_win_len",
    "metadata_feature_win_step",
    "metadata_beam_width",
    "metadata_alphabet",
)


class TFLiteGraph:
    """Adds DeepSpeech's layers to a ModelWriter; every intermediate tensor is float32."""

    def __init__(self) -> None:
        self.w = ModelWriter()

    def out(self, name: str, shape: tuple[int, ...]) -> int:
        return self.w.tensor(name, shape, TensorType.FLOAT32)

    def reshape(self, name: str, x: int, shape: tuple[int, ...]) -> int:
        dtype = self.w.tensors[x].dtype
        y = self.w.tensor(name, shape, dtype)
        self.w.op(BuiltinOp.RESHAPE, [x], [y], [Field(0, "int32s", shape)])
        return y

    def weights(self, name: str, w: np.ndarray, b: np.ndarray) -> tuple[int, int]:
        """Constants of a dense layer, w [in, out] as in the GraphDef; TFLite keeps [out, in]."""
        return self.w.const(f"{name}/weights", np.ascontiguousarray(w.T)), self.w.const(
            f"{name}/bias", b
        )

    def fully_connected(
        self, name: str, x: int, params: tuple[int, int], relu: bool = False
    ) -> int:
        """x [n, in] -> [n, out] = x @ w + b, then max(., 0) when relu."""
        kernel, bias = params
        rows, units = self.w.tensors[x].shape[0], self.w.tensors[kernel].shape[0]
        y = self.out(f"{name}/MatMul", (rows, units))
        activation = Activation.RELU if relu else Activation.NONE
        self.w.op(BuiltinOp.FULLY_CONNECTED, [x, kernel, bias], [y], [Field(0, "int8", activation)])
        return y

    def dense(self, name: str, x: int, weights: dict[str, np.ndarray], clip: float | None) -> int:
        """x [n, in] -> min(relu(x W + b), clip), or x W + b when clip is None."""
        params = self.weights(name, weights[f"{name}/weights"], weights[f"{name}/bias"])
        y = self.fully_connected(name, x, params, relu=clip is not None)
        if clip is None:
            return y
        limit = self.w.const(f"{name}/relu_clip", np.array([clip], dtype=np.float32))
        clipped = self.out(f"{name}/Minimum", self.w.tensors[y].shape)
        self.w.op(BuiltinOp.MINIMUM, [y, limit], [clipped])
        return clipped

    def binary(self, op: BuiltinOp, name: str, a: int, b: int) -> int:
        y = self.out(name, self.w.tensors[a].shape)
        self.w.op(op, [a, b], [y], [Field(0, "int8", Activation.NONE)])
        return y

    def unary(self, op: BuiltinOp, name: str, x: int) -> int:
        y = self.out(name, self.w.tensors[x].shape)
        self.w.op(op, [x], [y])
        return y

    def split(self, name: str, x: int, axis: int, parts: int) -> list[int]:
        shape = list(self.w.tensors[x].shape)
        shape[axis] //= parts
        axis_t = self.w.const(f"{name}/axis", np.array(axis, dtype=np.int32))
        ys = [self.out(f"{name}:{k}", tuple(shape)) for k in range(parts)]
        self.w.op(BuiltinOp.SPLIT, [axis_t, x], ys, [Field(0, "int32", parts)])
        return ys

    def concat(self, name: str, xs: list[int], axis: int) -> int:
        shape = list(self.w.tensors[xs[0]].shape)
        shape[axis] = sum(self.w.tensors[x].shape[axis] for x in xs)
        y = self.out(name, tuple(shape))
        fields = [Field(0, "int32", axis), Field(1, "int8", Activation.NONE)]
        self.w.op(BuiltinOp.CONCATENATION, xs, [y], fields)
        return y


def add_metadata(g: TFLiteGraph, alphabet: bytes, beam_width: int) -> list[int]:
    """The metadata outputs, each the RESHAPE of a constant: the client runs the operator
    that produces each one. The alphabet's (a string tensor) is the model's last operator.
    -> their tensor indices, in METADATA order."""
    values = [GRAPH_VERSION, SAMPLE_RATE, WINDOW_MS, STEP_MS, beam_width]
    outputs = []
    for name, value in zip(METADATA, values, strict=False):
        const = g.w.const(f"{name}/value", np.array([value], dtype=np.int32))
        outputs.append(g.reshape(name, const, (1,)))
    data = string_tensor_data([alphabet])
    const = g.w.tensor("metadata_alphabet/value", (1,), TensorType.STRING, data)
    outputs.append(g.reshape("metadata_alphabet", const, (1,)))
    return outputs


def add_features(g: TFLiteGraph) -> tuple[int, int]:
    """input_samples [512, 1] -> mfccs [1, 26]; -> (input index, output index).

    The client copies only the samples it has into input_samples: for the last, partial
    window of a stream the rest of the tensor still holds the previous window's samples,
    where the TF client pads with zeros. So the feature plan clears input_samples once it
    has copied them, with an RNN whose weights are zero and whose hidden state is
    input_samples (its state is set to its output, zeros). The clearing output is added
    to the copy, which makes it an ancestor of mfccs and so part of the client's MFCC
    plan; the ADD reads it first so that the client's breadth-first walk from mfccs (each
    newly found operator goes to the front of the plan) finds the copy after the clearing
    RNN, and so runs the copy first.
    """
    samples = g.w.tensor("input_samples", (WINDOW, 1), TensorType.FLOAT32, variable=True)
    copy = g.reshape("features/samples", samples, (WINDOW, 1))
    zero = [g.w.const(f"features/clear/{n}", np.zeros(s, np.float32)) for n, s in _RNN_ZEROS]
    cleared = g.out("features/clear", (WINDOW, 1))
    g.w.op(
        BuiltinOp.RNN,
        [copy, *zero, samples],
        [cleared],
        [Field(0, "int8", Activation.NONE)],
    )
    column = g.binary(BuiltinOp.ADD, "features/column", cleared, copy)
    n_bins = WINDOW // 2 + 1
    spectrogram = g.out("features/AudioSpectrogram", (1, 1, n_bins))
    options = {"window_size": WINDOW, "stride": STEP, "magnitude_squared": True}
    g.w.op("AudioSpectrogram", [column], [spectrogram], custom_options=flexbuffer_map(options))
    rate = g.w.const("features/sample_rate", np.array(SAMPLE_RATE, dtype=np.int32))
    mfcc = g.out("features/Mfcc", (1, 1, N_MFCC))
    options = {
        # The kernel reads every option as an integer (flexbuffers AsInt64).
        "upper_frequency_limit": int(UPPER_HZ),
        "lower_frequency_limit": int(LOWER_HZ),
        "filterbank_channel_count": N_MEL,
        "dct_coefficient_count": N_MFCC,
    }
    g.w.op("Mfcc", [spectrogram, rate], [mfcc], custom_options=flexbuffer_map(options))
    return samples, g.reshape("mfccs", mfcc, (1, N_MFCC))


def add_lstm(
    g: TFLiteGraph, x: int, weights: dict[str, np.ndarray], n_cell: int
) -> tuple[int, int, int, int, int]:
    """x [T, n_hidden] -> h [T, n_cell], one LSTMCell step per row.

    -> (h outputs, previous_state_c, previous_state_h, new_state_c, new_state_h).
    """
    c = c_in = g.out("previous_state_c", (1, n_cell))
    h = h_in = g.out("previous_state_h", (1, n_cell))
    n_steps = g.w.tensors[x].shape[0]
    params = g.weights("lstm", weights["lstm/kernel"], weights["lstm/bias"])
    steps = g.split("lstm/steps", x, axis=0, parts=n_steps)
    hs = []
    for t, x_t in enumerate(steps):
        last = t == n_steps - 1
        scope = f"lstm/step_{t}"
        xh = g.concat(f"{scope}/xh", [x_t, h], axis=1)
        gates = g.fully_connected(f"{scope}/gates", xh, params)
        i, j, f, o = g.split(f"{scope}/gates", gates, axis=1, parts=4)
        forget = g.binary(
            BuiltinOp.MUL, f"{scope}/forget", g.unary(BuiltinOp.LOGISTIC, f"{scope}/f", f), c
        )
        write = g.binary(
            BuiltinOp.MUL,
            f"{scope}/write",
            g.unary(BuiltinOp.LOGISTIC, f"{scope}/i", i),
            g.unary(BuiltinOp.TANH, f"{scope}/j", j),
        )
        c = g.binary(BuiltinOp.ADD, "new_state_c" if last else f"{scope}/c", forget, write)
        h = g.binary(
            BuiltinOp.MUL,
            "new_state_h" if last else f"{scope}/h",
            g.unary(BuiltinOp.LOGISTIC, f"{scope}/o", o),
            g.unary(BuiltinOp.TANH, f"{scope}/tanh_c", c),
        )
        hs.append(h)
    return g.concat("lstm/output", hs, axis=0), c_in, h_in, c, h


def build_tflite(
    weights: dict[str, np.ndarray],
    alphabet: bytes,
    n_labels: int,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
    relu_clip: float = 20.0,
) -> bytes:
    """The .tflite file for `DeepSpeech.tf_weights()` and `Alphabet.serialize()`.

    input_node [1, n_steps, 19, 26] -> logits [n_steps, n_classes] (probabilities);
    previous_state_c/h [1, n_cell] -> new_state_c/h [1, n_cell] after all n_steps steps;
    input_samples [512] -> mfccs [1, 26].
    """
    if n_steps < 1 or beam_width < 1:
        raise ValueError("n_steps and beam_width must be positive")
    _, n_classes = check_weights(weights, n_labels)
    n_cell = weights["lstm/kernel"].shape[1] // 4
    g = TFLiteGraph()
    samples, mfccs = add_features(g)
    x = x_in = g.out("input_node", (1, n_steps, CONTEXT_FRAMES, N_MFCC))
    # Batch 1, so DeepSpeech's time-major transpose is the identity on the data.
    x = g.reshape("input_reshaped", x, (n_steps, N_INPUT))
    for name in ("layer_1", "layer_2", "layer_3"):
        x = g.dense(name, x, weights, clip=relu_clip)
    x, c_in, h_in, c_out, h_out = add_lstm(g, x, weights, n_cell)
    x = g.dense("layer_5", x, weights, clip=relu_clip)
    x = g.dense("layer_6", x, weights, clip=None)
    logits = g.out("logits", (n_steps, n_classes))
    g.w.op(BuiltinOp.SOFTMAX, [x], [logits], [Field(0, "float32", 1.0)])
    # Last: the alphabet's string tensor is dynamic, and the interpreter prepares operators
    # (sizes its arena) only up to the first one with a dynamic output at AllocateTensors;
    # operators after it would be prepared lazily by position in whatever execution plan
    # the client has set, which for the MFCC and acoustic plans is never.
    metadata = add_metadata(g, alphabet, beam_width)
    inputs = [x_in, c_in, h_in, samples]
    outputs = [logits, c_out, h_out, mfccs, *metadata]
    return g.w.serialize(inputs, outputs, description="dstorch DeepSpeech 0.9.3 model")
