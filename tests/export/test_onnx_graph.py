"""The ONNX export, checked by onnxruntime: logits and state equal PyTorch's, streamed or
whole, and the greedy transcripts are the same."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, greedy_decode, random_model

from dstorch.alphabet import Alphabet
from dstorch.export.onnx_graph import INPUTS, OUTPUTS, export_onnx
from dstorch.features import audio_features, context_windows
from dstorch.inference.onnx_model import OnnxDeepSpeech

onnx = pytest.importorskip("onnx")
TOLERANCE = 1e-4
CLIPS = ["speech", "speech_7000", "speech_32_steps", "speech_300", "noise", "silence", "empty"]


@pytest.fixture(scope="module")
def normalised_model():
    """A random model with feature statistics (folded into layer_1 by the export)."""
    model = random_model(len(ENGLISH) + 1, seed=7, n_hidden=96)
    generator = torch.Generator().manual_seed(7)
    model.set_normalization(
        torch.randn(26, generator=generator) * 5, torch.rand(26, generator=generator) + 0.5
    )
    return model


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory, normalised_model, peaked_model, english):
    folder = tmp_path_factory.mktemp("onnx")
    models = {"normalised": normalised_model, "peaked": peaked_model}
    return {
        name: OnnxDeepSpeech(export_onnx(model, english, folder / f"{name}.onnx"))
        for name, model in models.items()
    }


def _torch(model, steps):
    with torch.no_grad():
        logits, (h, c) = model(torch.from_numpy(steps)[None])
    return logits[0].numpy(), c[0].numpy(), h[0].numpy()


@pytest.mark.parametrize("clip", CLIPS)
def test_logits_and_state_equal_pytorch(runtimes, normalised_model, parity_clips, clip):
    steps = context_windows(audio_features(parity_clips[clip]))
    logits, c, h = _torch(normalised_model, steps)
    got, (got_c, got_h) = runtimes["normalised"].logits(steps)
    assert got.shape == logits.shape
    assert np.abs(got - logits).max() < TOLERANCE
    assert np.abs(got_c - c).max() < TOLERANCE and np.abs(got_h - h).max() < TOLERANCE
    # streaming: 16-step calls carrying the state give the same logits
    state, parts = None, []
    for start in range(0, len(steps), 16):
        part, state = runtimes["normalised"].logits(steps[start : start + 16], state)
        parts.append(part)
    assert np.abs(np.concatenate(parts) - logits).max() < TOLERANCE


@pytest.mark.parametrize("clip", ["speech", "speech_7000", "noise"])
def test_greedy_transcripts_equal_pytorch(runtimes, peaked_model, english, parity_clips, clip):
    steps = context_windows(audio_features(parity_clips[clip]))
    logits, _, _ = _torch(peaked_model, steps)
    got, _ = runtimes["peaked"].logits(steps)
    ours = greedy_decode(torch.log_softmax(torch.from_numpy(logits), -1).numpy(), english)
    theirs = greedy_decode(torch.log_softmax(torch.from_numpy(got), -1).numpy(), english)
    assert theirs == ours and ours[0]  # a non-empty transcript, same labels at same steps


def test_batches_are_independent(runtimes, normalised_model, parity_clips):
    a = context_windows(audio_features(parity_clips["speech"]))[:40]
    b = context_windows(audio_features(parity_clips["noise"]))[:40]
    zeros = np.zeros((2, 96), np.float32)
    session = runtimes["normalised"].session
    feed = dict(zip(INPUTS, (np.stack([a, b]), zeros, zeros), strict=True))
    logits = session.run(["logits"], feed)[0]
    assert np.abs(logits[1] - _torch(normalised_model, b)[0]).max() < TOLERANCE


def test_graph_contract_and_metadata(tmp_path: Path, peaked_model, english: Alphabet):
    path = export_onnx(peaked_model, english, tmp_path / "m.onnx", beam_width=77, n_steps=8)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert {v.name: dims(v) for v in model.graph.input} == {
        "input_node": ["batch", "time", 19, 26],
        "previous_state_c": ["batch", 64],
        "previous_state_h": ["batch", 64],
    }
    assert [v.name for v in model.graph.output] == list(OUTPUTS)
    assert dims(model.graph.output[0]) == ["batch", "time", len(english) + 1]
    runtime = OnnxDeepSpeech(path)
    assert (runtime.labels, runtime.beam_width, runtime.n_steps) == (english.labels, 77, 8)
    again = export_onnx(peaked_model, english, tmp_path / "again.onnx", beam_width=77, n_steps=8)
    assert again.read_bytes() == path.read_bytes()  # deterministic: depends on weights only
