"""The DeepSpeech 0.9 acoustic model in PyTorch.

Three clipped-ReLU dense layers, one unidirectional LSTM, one clipped-ReLU dense layer and
the output layer (alphabet + blank, blank LAST). `tf_weights` gives the tensors in the
layout the exported TensorFlow graph (BlockLSTM) expects.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dstorch.features import CONTEXT_FRAMES, N_INPUT, N_MFCC


class DeepSpeech(nn.Module):
    def __init__(
        self,
        n_classes: int,
        n_hidden: int = 2048,
        relu_clip: float = 20.0,
        dropout_rate: float = 0.05,
    ):
        super().__init__()
        self.n_classes, self.n_hidden, self.relu_clip = n_classes, n_hidden, relu_clip
        self.layer_1 = nn.Linear(N_INPUT, n_hidden)
        self.layer_2 = nn.Linear(n_hidden, n_hidden)
        self.layer_3 = nn.Linear(n_hidden, n_hidden)
        self.lstm = nn.LSTM(n_hidden, n_hidden, batch_first=True)
        self.layer_5 = nn.Linear(n_hidden, n_hidden)
        self.layer_6 = nn.Linear(n_hidden, n_classes)
        self.dropout = nn.Dropout(dropout_rate)
        # Per-coefficient feature normalisation. DeepSpeech feeds raw MFCCs (values down to
        # about -60), which saturates the clipped ReLUs of small models; the statistics are
        # folded into layer_1 at export, so the graph contract does not change.
        self.register_buffer("input_mean", torch.zeros(N_MFCC))
        self.register_buffer("input_std", torch.ones(N_MFCC))
        self._init_like_tf()

    def _init_like_tf(self) -> None:
        # DeepSpeech initialises dense kernels with Glorot uniform and zero biases.
        for layer in (self.layer_1, self.layer_2, self.layer_3, self.layer_5, self.layer_6):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.lstm.bias_hh_l0)

    def dense(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.clamp(torch.relu(layer(x)), max=self.relu_clip))

    def forward(
        self,
        inputs: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """inputs [B, T, 19, 26] -> logits [B, T, n_classes], (h, c) each [1, B, n_hidden].

        Padded steps at the end of a sequence do not affect earlier outputs (the LSTM is
        causal), so batches are simply zero-padded.
        """
        x = (inputs - self.input_mean) / self.input_std
        x = x.reshape(inputs.shape[0], inputs.shape[1], N_INPUT)
        x = self.dense(self.layer_3, self.dense(self.layer_2, self.dense(self.layer_1, x)))
        x, state = self.lstm(x, state)
        x = self.dense(self.layer_5, x)
        return self.layer_6(x), state

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """mean, std: [N_MFCC] statistics of the training features."""
        self.input_mean.copy_(mean)
        self.input_std.copy_(torch.clamp(std, min=1e-3))

    def folded_layer_1(self) -> tuple[torch.Tensor, torch.Tensor]:
        """layer_1 with the input normalisation folded in: [N_INPUT, n_hidden], [n_hidden].

        W((x - m) / s) + b = (W / s) x + (b - (W / s) m), tiled over the context positions.
        """
        scale = (1.0 / self.input_std).repeat(CONTEXT_FRAMES)
        weights = self.layer_1.weight.detach().T * scale[:, None]
        bias = self.layer_1.bias.detach() - self.input_mean.repeat(CONTEXT_FRAMES) @ weights
        return weights, bias

    def tf_weights(self) -> dict[str, np.ndarray]:
        """Weights in the exported graph's layout (float32, row-major).

        layer_k/weights [in, out], layer_k/bias [out] (layer_1 with the input normalisation
        folded in); lstm/kernel [n_input + n_hidden,
        4 * n_hidden] with x rows first, then h rows, gate blocks ordered i, c, f, o
        (torch orders them i, f, c, o); lstm/bias [4 * n_hidden] = b_ih + b_hh.
        """
        out = {}
        out["layer_1/weights"], out["layer_1/bias"] = self.folded_layer_1()
        for name in ("layer_2", "layer_3", "layer_5", "layer_6"):
            layer = getattr(self, name)
            out[f"{name}/weights"] = layer.weight.detach().T.contiguous()
            out[f"{name}/bias"] = layer.bias.detach()
        i, f, g, o = range(4)
        order = [i, g, f, o]

        def regate(t: torch.Tensor) -> torch.Tensor:
            return torch.cat([t.chunk(4, dim=0)[k] for k in order], dim=0)

        w = torch.cat([self.lstm.weight_ih_l0, self.lstm.weight_hh_l0], dim=1).detach()
        out["lstm/kernel"] = regate(w).T.contiguous()
        out["lstm/bias"] = regate((self.lstm.bias_ih_l0 + self.lstm.bias_hh_l0).detach())
        return {k: v.float().cpu().numpy().astype(np.float32) for k, v in out.items()}


def flops_per_step(n_hidden: int, n_classes: int) -> int:
    """Multiply-adds x2 of one forward time step for one sample (training ~3x this)."""
    n = n_hidden
    macs = N_INPUT * n + 2 * n * n + 2 * n * 4 * n + n * n + n * n_classes
    return 2 * macs
