"""dstorch.inference.numpy_model: the exported graph in numpy, against the PyTorch model
it was exported from, the official client, and the import chain it must keep lean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, ROOT, load_clip, random_model

from dstorch import features as F
from dstorch.alphabet import Alphabet
from dstorch.export import export_model
from dstorch.inference.numpy_model import NumpyDeepSpeech
from dstorch.inference.transcribe import Transcriber

SCORER = ROOT / "tests" / "fixtures" / "scorer" / "commands.scorer"
CLIPS = ROOT / "tests" / "fixtures" / "clips"


@pytest.fixture(scope="module")
def normalised(tmp_path_factory) -> tuple[torch.nn.Module, dict[str, Path]]:
    """A random model with feature normalisation (folded into layer_1 at export) and a
    sharpened output layer like a trained one, and its {"pb", "pbmm"} files."""
    model = random_model(len(ENGLISH) + 1, seed=11, n_hidden=48)
    gen = torch.Generator().manual_seed(3)
    model.set_normalization(
        torch.randn(F.N_MFCC, generator=gen) * 10, torch.rand(F.N_MFCC, generator=gen) * 5 + 0.5
    )
    with torch.no_grad():
        model.layer_6.weight.mul_(8.0)
        model.layer_6.bias.mul_(8.0)
    pb, pbmm = export_model(model, Alphabet(ENGLISH), tmp_path_factory.mktemp("np"), "norm")
    return model, {"pb": pb, "pbmm": pbmm}


def _torch_logits(model: torch.nn.Module, steps: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(steps)[None])[0][0].numpy()


def _real_steps() -> np.ndarray:
    """[T, 19, 26] time steps of the speech fixture, as the client builds them."""
    return F.context_windows(F.audio_features(load_clip("speech")))


@pytest.mark.parametrize("kind", ["pb", "pbmm"])
def test_logits_equal_torch_on_random_and_real_inputs(normalised, kind: str) -> None:
    model, files = normalised
    ours = NumpyDeepSpeech.load(files[kind])
    assert ours.labels == ENGLISH and ours.beam_width == 500 and ours.n_steps == 16
    rng = np.random.default_rng(0)
    random_steps = (rng.standard_normal((37, F.CONTEXT_FRAMES, F.N_MFCC)) * 20).astype(np.float32)
    for steps in (random_steps, _real_steps()):
        expected = _torch_logits(model, steps)
        got, _ = ours.logits(steps)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
        # the probabilities the decoder gets, and a distinct value per step (no dead model)
        probs, _ = ours(steps)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert len(np.unique(probs.argmax(axis=1))) > 1


def test_state_carries_across_calls_bit_for_bit(normalised) -> None:
    """Steps run in calls of n_steps with the carried LSTM state give the numbers of one
    call: what makes a stream and a whole buffer transcribe identically."""
    ours = NumpyDeepSpeech.load(normalised[1]["pbmm"])
    steps = _real_steps()
    whole, (h, c) = ours(steps)
    parts, state = [], None
    for start in range(0, len(steps), ours.n_steps):
        probs, state = ours(steps[start : start + ours.n_steps], state)
        parts.append(probs)
    assert np.array_equal(np.concatenate(parts), whole)
    assert np.array_equal(state[0], h) and np.array_equal(state[1], c)


@pytest.mark.parametrize("kind", ["pb", "pbmm"])
def test_transcripts_equal_official_client(normalised, deepspeech_lib, kind: str) -> None:
    """The .pb reader too (tests/inference/test_transcribe.py covers the .pbmm on more clips)."""
    from dstorch.inference.official import OfficialModel
    from dstorch.inference.transcribe import read_audio

    path = normalised[1][kind]
    clips = {p.name: read_audio(p) for p in sorted(CLIPS.glob("*.wav"))[:4]}
    clips["speech"] = load_clip("speech")
    with OfficialModel(path, deepspeech_lib) as client:
        client.set_beam_width(100)
        client.enable_scorer(SCORER)
        ours = Transcriber(path, SCORER, beam_width=100)
        for name, pcm in clips.items():
            ref, got = client.stt_with_metadata(pcm, 2), ours.transcribe(pcm, 2)
            assert [c.text for c in got] == [r.text for r in ref], name
            assert [c.timesteps for c in got] == [[t.timestep for t in r.tokens] for r in ref]
            for c, r in zip(got, ref, strict=True):
                assert c.confidence == pytest.approx(r.confidence, abs=1e-3)


def test_checkpoint_transcribes_like_its_export(normalised, tmp_path: Path) -> None:
    """A .pt still runs in PyTorch; its transcripts are those of the exported graph."""
    from dstorch.config import TrainConfig
    from dstorch.training import checkpoint as ckpt

    model, files = normalised
    config = TrainConfig(checkpoint_dir=str(tmp_path), n_hidden=48, dropout_rate=0.0)
    optimizer = torch.optim.Adam(model.parameters())
    pt = ckpt.save(tmp_path, config, Alphabet(ENGLISH), model, optimizer, ckpt.TrainState())
    pcm = load_clip("speech")
    from_pt = Transcriber(pt, SCORER, beam_width=64).transcribe(pcm, 2)
    from_pbmm = Transcriber(files["pbmm"], SCORER, beam_width=64).transcribe(pcm, 2)
    assert [(c.text, c.timesteps) for c in from_pt] == [(c.text, c.timesteps) for c in from_pbmm]
    assert from_pt[0].confidence == pytest.approx(from_pbmm[0].confidence, abs=1e-3)


LEAN_RUN = """
import json, sys
from dstorch.cli import main
code = main(["transcribe", "--model", sys.argv[1], "--scorer", sys.argv[2],
             "--audio", sys.argv[3], "--json", "--hot_words", "stop:2"])
heavy = sorted(m for m in ("torch", "scipy", "pandas") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_transcribe_exported_model_imports_no_training_stack(normalised, tmp_path) -> None:
    """`dstorch transcribe` of a .pbmm, in a fresh interpreter, leaves torch, scipy and
    pandas unimported, and prints what the in-process Transcriber finds."""
    pbmm, wav = normalised[1]["pbmm"], tmp_path / "speech.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(F.SAMPLE_RATE)
        w.writeframes(load_clip("speech").astype("<i2").tobytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not the editable install
    out = subprocess.run(
        [sys.executable, "-c", LEAN_RUN, str(pbmm), str(SCORER), str(wav)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    result, status = json.loads(out[0]), json.loads(out[-1])
    assert status == {"code": 0, "heavy": []}
    expected = Transcriber(pbmm, SCORER, hot_words={"stop": 2.0}).transcribe(load_clip("speech"))
    assert result["transcripts"][0]["text"] == expected[0].text
