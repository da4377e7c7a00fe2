"""An exported .onnx model run by onnxruntime behind the acoustic-model interface.

Why: the ONNX export (dstorch/export/onnx_graph.py) is for runtimes other than the
DeepSpeech client (phones, browsers, other languages); running it here through the same
streaming pipeline and decoder as the .pbmm checks it, and `dstorch transcribe --model
x.onnx` needs neither torch nor TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dstorch.errors import DstorchError
from dstorch.inference.numpy_model import softmax

State = tuple[np.ndarray, np.ndarray]  # (c, h), each [1, n_hidden] float32


class OnnxModelError(DstorchError, ValueError):
    """A file onnxruntime cannot run as our graph; the message names it and the fix."""


class OnnxDeepSpeech:
    """Call it on time steps [T, 19, 26], carrying the LSTM state, like NumpyDeepSpeech."""

    def __init__(self, path: str | Path):
        try:
            import onnxruntime as ort
        except ImportError:
            raise OnnxModelError(
                "onnxruntime is not installed; pip install -c constraints.txt onnxruntime"
            ) from None
        options = ort.SessionOptions()
        # Blocks of 16 steps are too small for threads to pay (see cmd_transcribe).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            meta = self.session.get_modelmeta().custom_metadata_map
            self.labels: list[str] = json.loads(meta["alphabet"])
            self.beam_width, self.n_steps = int(meta["beam_width"]), int(meta["n_steps"])
            self.n_hidden = int(meta["n_hidden"])
        except (KeyError, ValueError) as e:
            raise OnnxModelError(
                f"{path}: not a dstorch ONNX export (metadata {e} missing); export it with "
                "dstorch export --export_onnx"
            ) from None
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise OnnxModelError(f"{path}: onnxruntime cannot load it ({e})") from None

    def initial_state(self) -> State:
        zeros = np.zeros((1, self.n_hidden), np.float32)
        return zeros, zeros.copy()

    def logits(self, steps: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """steps [T, 19, 26] -> logits [T, n_classes], the (c, h) state after them."""
        c, h = state if state is not None else self.initial_state()
        feed = {
            "input_node": np.ascontiguousarray(steps, np.float32)[None],
            "previous_state_c": c,
            "previous_state_h": h,
        }
        logits, new_c, new_h = self.session.run(["logits", "new_state_c", "new_state_h"], feed)
        return logits[0], (new_c, new_h)

    def __call__(self, steps: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """steps [T, 19, 26] -> probabilities [T, n_classes] float32, the state after."""
        logits, state = self.logits(steps, state)
        return softmax(logits), state
