"""The PyTorch model and its export layout."""

import numpy as np
import torch

from dstorch.features import CONTEXT_FRAMES, N_INPUT, N_MFCC
from dstorch.model import DeepSpeech


def block_lstm_reference(x, kernel, bias, units):
    """TF BlockLSTM semantics in NumPy: gates i, c, f, o; forget_bias 0; no peepholes."""
    h = np.zeros(units, np.float64)
    c = np.zeros(units, np.float64)
    out = []
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for xt in x:
        z = np.concatenate([xt, h]) @ kernel + bias
        i, g, f, o = np.split(z, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out)


def test_tf_weights_reproduce_torch_lstm():
    torch.manual_seed(0)
    model = DeepSpeech(n_classes=5, n_hidden=8).eval()
    for p in model.lstm.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    x = torch.randn(1, 7, 8)
    expected, _ = model.lstm(x)
    w = model.tf_weights()
    assert w["lstm/kernel"].shape == (16, 32) and w["lstm/bias"].shape == (32,)
    got = block_lstm_reference(x[0].numpy(), w["lstm/kernel"], w["lstm/bias"], 8)
    np.testing.assert_allclose(got, expected[0].detach().numpy(), atol=1e-5)


def test_forward_shapes_and_clipping():
    model = DeepSpeech(n_classes=29, n_hidden=16, relu_clip=0.5).eval()
    inputs = torch.randn(3, 11, CONTEXT_FRAMES, N_MFCC) * 100
    logits, (h, c) = model(inputs)
    assert logits.shape == (3, 11, 29)
    assert h.shape == c.shape == (1, 3, 16)
    hidden = model.dense(model.layer_1, inputs.reshape(3, 11, N_INPUT))
    assert hidden.max() <= 0.5 and hidden.min() >= 0


def test_padding_does_not_change_earlier_outputs():
    torch.manual_seed(1)
    model = DeepSpeech(n_classes=6, n_hidden=12).eval()
    x = torch.randn(1, 9, CONTEXT_FRAMES, N_MFCC)
    padded = torch.cat([x, torch.zeros(1, 7, CONTEXT_FRAMES, N_MFCC)], dim=1)
    a, _ = model(x)
    b, _ = model(padded)
    torch.testing.assert_close(a, b[:, :9])


def test_default_geometry_matches_deepspeech_parameter_count():
    model = DeepSpeech(n_classes=29)
    count = sum(p.numel() for p in model.parameters())
    # torch keeps two LSTM bias vectors where TF keeps one.
    assert abs(count - 4 * 2048 - 47.2e6) < 0.1e6


def test_normalization_is_folded_into_exported_layer_1():
    torch.manual_seed(2)
    model = DeepSpeech(n_classes=5, n_hidden=8).eval()
    model.set_normalization(torch.randn(N_MFCC) * 10, torch.rand(N_MFCC) * 5 + 0.5)
    x = torch.randn(2, 3, CONTEXT_FRAMES, N_MFCC) * 20
    normalized = ((x - model.input_mean) / model.input_std).reshape(2, 3, N_INPUT)
    expected = model.layer_1(normalized).detach()
    w = model.tf_weights()
    flat = x.reshape(2, 3, N_INPUT).numpy()
    got = flat @ w["layer_1/weights"] + w["layer_1/bias"]
    np.testing.assert_allclose(got, expected.reshape(2, 3, 8).numpy(), rtol=1e-4, atol=1e-3)
