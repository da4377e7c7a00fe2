"""The exported DeepSpeech 0.9.3 graph's forward pass in numpy (float32, like the graph).

Per time step: layer_1..layer_3 (MatMul + BiasAdd, Relu, Minimum with relu_clip; layer_1
has the feature normalisation folded in), TensorFlow's BlockLSTM (gate blocks i, c, f, o;
the forget bias already in the bias; no peepholes, no cell clip), layer_5 clipped like the
others, layer_6 and the softmax the client's decoder consumes. Agrees with the PyTorch
model of the same weights to float rounding (tests/inference/test_numpy_model.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dstorch import features
from dstorch.export.import_graph import GraphWeights, read_graph

State = tuple[np.ndarray, np.ndarray]  # (h, c), each [n_hidden] float32


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of -|x| only: no overflow warnings, and the same value either side of 0
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def _rows(x: np.ndarray, w: np.ndarray, block: int) -> np.ndarray:
    """x [T, in] @ w [in, out] in zero-padded blocks of `block` rows.

    BLAS sums a row differently depending on how many rows a call has, so a row's result
    would depend on how the audio was batched (a stream fed in 16-step calls vs a whole
    buffer in one call). Every call here has exactly `block` rows, and callers batch in
    multiples of `block`, so the numbers, hence transcripts and confidences, do not.
    """
    out = np.empty((len(x), w.shape[1]), np.float32)
    for start in range(0, len(x), block):
        rows = x[start : start + block]
        if len(rows) < block:
            rows = np.concatenate([rows, np.zeros((block - len(rows), x.shape[1]), x.dtype)])
        out[start : start + block] = (rows @ w)[: len(out) - start]
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """logits [T, C] -> probabilities [T, C] float32 along the last axis."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class NumpyDeepSpeech:
    """An exported model's acoustic network; call it on time steps, carrying the state."""

    def __init__(self, weights: GraphWeights):
        self.weights = weights
        self.labels, self.beam_width, self.n_steps = (
            weights.labels,
            weights.beam_width,
            weights.n_steps,
        )
        self.clip, dense = np.float32(weights.relu_clip), weights.dense
        self.dense = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in dense]
        n = weights.n_hidden
        self.kernel_x = np.ascontiguousarray(weights.lstm_kernel[:n], np.float32)
        self.kernel_h = np.ascontiguousarray(weights.lstm_kernel[n:], np.float32)
        self.lstm_bias = np.asarray(weights.lstm_bias, np.float32)

    @classmethod
    def load(cls, path: str | Path) -> NumpyDeepSpeech:
        """From a .pb or .pbmm (GraphImportError if it is not one we can read)."""
        return cls(read_graph(path))

    def initial_state(self) -> State:
        n = self.weights.n_hidden
        return np.zeros(n, np.float32), np.zeros(n, np.float32)

    def _clipped(self, x: np.ndarray, layer: int) -> np.ndarray:
        w, b = self.dense[layer]
        return np.minimum(np.maximum(_rows(x, w, self.n_steps) + b, 0), self.clip)

    def _lstm(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """x [T, n_hidden] -> h [T, n_hidden], the state after the last step."""
        h, c = state
        n = len(h)
        gates_x = _rows(x, self.kernel_x, self.n_steps) + self.lstm_bias  # all steps at once
        out = np.empty((len(x), n), np.float32)
        for t in range(len(x)):
            g = gates_x[t] + h @ self.kernel_h
            i, f, o = _sigmoid(g[:n]), _sigmoid(g[2 * n : 3 * n]), _sigmoid(g[3 * n :])
            c = f * c + i * np.tanh(g[n : 2 * n])
            h = o * np.tanh(c)
            out[t] = h
        return out, (h, c)

    def logits(self, steps: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """steps [T, 19, 26] float32 -> logits [T, n_classes], the LSTM state after them.

        Call with T a multiple of n_steps (but the last call) to get the same numbers
        however the steps are split into calls (see _rows)."""
        x = np.asarray(steps, np.float32).reshape(len(steps), features.N_INPUT)
        x = self._clipped(self._clipped(self._clipped(x, 0), 1), 2)
        x, state = self._lstm(x, state if state is not None else self.initial_state())
        w, b = self.dense[4]
        return _rows(self._clipped(x, 3), w, self.n_steps) + b, state

    def __call__(self, steps: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """steps [T, 19, 26] -> probabilities [T, n_classes] float32 (what the client's
        decoder gets), the LSTM state after them."""
        logits, state = self.logits(steps, state)
        return softmax(logits), state
