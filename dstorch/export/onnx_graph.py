"""The model as a streaming ONNX graph: onnxruntime (or any ONNX runtime) runs it.

Contract (the names are the TensorFlow graph's, docs/deepspeech-0.9.3-contract.md):
    input_node        [batch, time, 19, 26] float32  context windows of MFCCs (features.py)
    previous_state_c  [batch, n_hidden]     float32  the LSTM cell state (zeros at the start)
    previous_state_h  [batch, n_hidden]     float32  the LSTM output state
 -> logits            [batch, time, n_classes]       before the softmax, blank last
    new_state_c       [batch, n_hidden]              feed back as previous_state_c
    new_state_h       [batch, n_hidden]              feed back as previous_state_h
Feeding a clip in pieces with the state carried gives the logits of one whole call (the
network is causal), which is how the client streams. `time` and `batch` are free.
Metadata (model.metadata_props, all strings): alphabet (JSON list of labels), beam_width,
n_steps, n_hidden, sample_rate, feature_win_len, feature_win_step (ms), n_context.

Written node by node with onnx.helper, like the TensorFlow graph: no tracing, so the
file depends only on the weights. The feature normalisation is folded into layer_1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dstorch.config.training import DEFAULT_BEAM_WIDTH, DEFAULT_N_STEPS
from dstorch.features import (
    CONTEXT_FRAMES,
    N_CONTEXT,
    N_INPUT,
    N_MFCC,
    SAMPLE_RATE,
    STEP_MS,
    WINDOW_MS,
)
from dstorch.fs import atomic_write

if TYPE_CHECKING:
    from dstorch.alphabet import Alphabet
    from dstorch.model import DeepSpeech

OPSET = 17  # LSTM, Clip with tensor bounds, Squeeze/Unsqueeze with axes inputs
IR_VERSION = 8  # the oldest for opset 17: runtimes older than the onnx package still load it
INPUTS = ("input_node", "previous_state_c", "previous_state_h")
OUTPUTS = ("logits", "new_state_c", "new_state_h")
# torch orders the LSTM gate blocks i, f, g(c), o; ONNX's LSTM wants i, o, f, c
TORCH_TO_ONNX_GATES = (0, 3, 1, 2)


def _gates(t: np.ndarray) -> np.ndarray:
    """[4n, ...] in torch's gate order -> ONNX's."""
    blocks = np.split(t, 4, axis=0)
    return np.concatenate([blocks[k] for k in TORCH_TO_ONNX_GATES], axis=0)


def onnx_bytes(model: DeepSpeech, alphabet: Alphabet, beam_width: int, n_steps: int) -> bytes:
    """The serialized ModelProto of `model` (eval mode, on the CPU)."""
    import onnx
    from onnx import helper, numpy_helper

    inits: list = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    inputs, outputs = _signature(model.n_hidden, model.n_classes)
    graph = helper.make_graph(_network(model, const), "deepspeech", inputs, outputs, inits)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dstorch"
    )
    proto.ir_version = IR_VERSION
    metadata = {
        "alphabet": json.dumps(alphabet.labels, ensure_ascii=False),
        "beam_width": beam_width,
        "n_steps": n_steps,
        "n_hidden": model.n_hidden,
        "sample_rate": SAMPLE_RATE,
        "feature_win_len": WINDOW_MS,
        "feature_win_step": STEP_MS,
        "n_context": N_CONTEXT,
    }
    helper.set_model_props(proto, {k: str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def _signature(n_hidden: int, n_classes: int) -> tuple[list, list]:
    """The graph's inputs and outputs (see the module docstring), batch and time free."""
    from onnx import TensorProto, helper

    shapes = {
        "input_node": ["batch", "time", CONTEXT_FRAMES, N_MFCC],
        "logits": ["batch", "time", n_classes],
    }
    value = lambda name: helper.make_tensor_value_info(  # noqa: E731
        name, TensorProto.FLOAT, shapes.get(name, ["batch", n_hidden])
    )
    return [value(name) for name in INPUTS], [value(name) for name in OUTPUTS]


def _network(model: DeepSpeech, const) -> list:
    """Nodes from input_node to logits: the dense layers (clipped ReLU but layer_6) around
    the LSTM; `const(name, array)` adds an initializer and returns its name."""
    from onnx import helper

    weights = model.tf_weights()  # layer_1 with the normalisation folded in
    low, high = const("clip_low", np.float32(0)), const("clip_high", np.float32(model.relu_clip))
    nodes = [helper.make_node("Reshape", ["input_node", const("flat", [0, 0, N_INPUT])], ["x0"])]
    x = "x0"
    for layer in ("layer_1", "layer_2", "layer_3", "lstm", "layer_5", "layer_6"):
        if layer == "lstm":
            x = _lstm(nodes, const, model, x, helper)
            continue
        w = const(f"{layer}/weights", weights[f"{layer}/weights"])
        b = const(f"{layer}/bias", weights[f"{layer}/bias"])
        out = "logits" if layer == "layer_6" else f"{layer}/out"
        added = out if layer == "layer_6" else f"{layer}/add"
        nodes += [
            helper.make_node("MatMul", [x, w], [f"{layer}/matmul"]),
            helper.make_node("Add", [f"{layer}/matmul", b], [added]),
        ]
        if layer != "layer_6":
            nodes.append(helper.make_node("Clip", [added, low, high], [out]))
        x = out
    return nodes


def _lstm(nodes: list, const, model: DeepSpeech, x: str, helper) -> str:
    """ONNX's LSTM over x [batch, time, n] (time-major inside), the states in and out."""
    lstm = model.lstm
    tensor = lambda t: t.detach().cpu().float().numpy()  # noqa: E731
    w = _gates(tensor(lstm.weight_ih_l0))[None]  # [1, 4n, n]
    r = _gates(tensor(lstm.weight_hh_l0))[None]
    b = np.concatenate([_gates(tensor(lstm.bias_ih_l0)), _gates(tensor(lstm.bias_hh_l0))])[None]
    zero, one, swap = const("axis_0", np.array([0])), const("axis_1", np.array([1])), [1, 0, 2]
    nodes += [
        helper.make_node("Transpose", [x], ["lstm/x"], perm=swap),  # [time, batch, n]
        helper.make_node("Unsqueeze", ["previous_state_h", zero], ["lstm/h0"]),
        helper.make_node("Unsqueeze", ["previous_state_c", zero], ["lstm/c0"]),
        helper.make_node(
            "LSTM",
            [
                "lstm/x",
                const("lstm/W", w),
                const("lstm/R", r),
                const("lstm/B", b),
                "",
                "lstm/h0",
                "lstm/c0",
            ],
            ["lstm/y", "lstm/h", "lstm/c"],
            hidden_size=model.n_hidden,
        ),
        helper.make_node("Squeeze", ["lstm/y", one], ["lstm/y3"]),  # [time, batch, n]
        helper.make_node("Transpose", ["lstm/y3"], ["lstm/out"], perm=swap),
        helper.make_node("Squeeze", ["lstm/h", zero], ["new_state_h"]),
        helper.make_node("Squeeze", ["lstm/c", zero], ["new_state_c"]),
    ]
    return "lstm/out"


def export_onnx(
    model: DeepSpeech,
    alphabet: Alphabet,
    path: Path,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
) -> Path:
    """Write the ONNX graph of `model` to `path` atomically; -> path."""
    return atomic_write(Path(path), onnx_bytes(model.eval(), alphabet, beam_width, n_steps))
