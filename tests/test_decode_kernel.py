"""dstorch.decode_kernel: the C beam search step equals the Python decoders and the client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, load_clip, random_model

from dstorch import decode_kernel
from dstorch.decode import BeamSearch, beam_search
from dstorch.decode_fast import FastBeamSearch, fast_beam_search, make_search

SCORER = Path(__file__).parent / "fixtures" / "scorer" / "commands.scorer"
C = len(ENGLISH) + 1
HOT = {"music": 2.0, "off": -1.5, "stop": 0.5}

needs_kernel = pytest.mark.skipif(
    decode_kernel.BACKEND != "c", reason=f"no C kernel: {decode_kernel.BUILD_ERROR}"
)


@pytest.fixture(scope="module")
def scorer():
    pytest.importorskip("kenlm")
    from dstorch.scorer import Scorer

    return Scorer(SCORER)


def random_probs(seed: int, steps: int = 120, classes: int = C) -> np.ndarray:
    """float32 softmax rows [steps, classes], blank-heavy like a trained model, with a
    few silent steps first (expansion starts late) and some exact ties."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, classes)) * rng.uniform(1, 5)
    logits[:, -1] += rng.uniform(0, 4, size=steps)
    logits[: seed % 4, -1] += 30.0  # P(blank) >= 0.999: the client skips these steps
    logits[5:9, 3] = logits[5:9, 7]  # equal probabilities: ties between extensions
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True)).astype(np.float32)


def run(search, probs: np.ndarray, cuts=(16, 17, 64)):
    for chunk in np.array_split(probs, list(cuts)):  # streaming chunks change nothing
        search.next(chunk)
    return search.decode(5)


@needs_kernel
@pytest.mark.parametrize("beam", [1, 2, 8, 64, 300])
@pytest.mark.parametrize("setting", ["plain", "scorer", "hot"])
def test_kernel_equals_python_decoders(beam: int, setting: str, request) -> None:
    sc = None if setting == "plain" else request.getfixturevalue("scorer")
    hot = HOT if setting == "hot" else None
    for seed in range(6 if beam < 300 else 2):
        probs = random_probs(seed + 10 * beam)
        got = run(decode_kernel.KernelBeamSearch(ENGLISH, beam, sc, hot), probs)
        assert got == run(FastBeamSearch(ENGLISH, beam, sc, hot), probs), seed
        if beam <= 64:  # the reference is slow on wide beams
            ref = BeamSearch(ENGLISH, beam, sc, hot)
            ref.next(probs)
            assert got == ref.decode(5), seed


@pytest.mark.parametrize("setting", ["plain", "scorer", "hot"])
def test_fast_beam_search_equals_the_reference(setting: str, request) -> None:
    sc = None if setting == "plain" else request.getfixturevalue("scorer")
    hot = HOT if setting == "hot" else None
    log_probs = np.log(random_probs(3).astype(np.float64))
    expected = beam_search(log_probs, ENGLISH, 16, sc, hot, num_results=3)
    assert fast_beam_search(log_probs, ENGLISH, 16, sc, hot, num_results=3) == expected


@needs_kernel
@pytest.mark.parametrize(("top_n", "cutoff_prob"), [(10, 1.0), (40, 0.9), (5, 0.5)])
def test_pruned_classes_and_wide_alphabets(top_n: int, cutoff_prob: float, scorer) -> None:
    """Per-step class pruning (cutoff_top_n, cutoff_prob), also with more classes than
    cutoff_top_n (an alphabet of 59 labels without a scorer)."""
    for seed in range(4):
        probs = random_probs(seed)
        for sc in (None, scorer):
            args = (ENGLISH, 32, sc, None, cutoff_prob, top_n)
            ref = BeamSearch(*args)
            ref.next(probs)
            assert run(decode_kernel.KernelBeamSearch(*args), probs) == ref.decode(5)
        labels = [chr(0x100 + i) for i in range(58)] + [" "]
        wide = random_probs(seed, classes=len(labels) + 1)
        args = (labels, 16, None, None, cutoff_prob, top_n)
        ref = BeamSearch(*args)
        ref.next(wide)
        assert run(decode_kernel.KernelBeamSearch(*args), wide) == ref.decode(5)


@needs_kernel
def test_pools_are_collected_without_changing_results() -> None:
    probs = np.random.default_rng(9).dirichlet(np.full(C, 0.2), size=400).astype(np.float32)
    whole = decode_kernel.KernelBeamSearch(ENGLISH, 32)
    small = decode_kernel.KernelBeamSearch(ENGLISH, 32, min_collect=200)
    assert run(small, probs) == run(whole, probs)
    for kept, grown in zip(small.pool_sizes(), whole.pool_sizes(), strict=True):
        assert kept < grown / 5  # memory bounded by what live prefixes point to


def spelled(text: str) -> np.ndarray:
    """float32 probabilities [2 * len(text), C]: each character (P = 0.7), then a blank."""
    rows = np.full((2 * len(text), C), 0.3 / (C - 1), np.float32)
    for i, ch in enumerate(text):
        rows[2 * i, ENGLISH.index(ch)] = rows[2 * i + 1, C - 1] = 0.7
    return rows


@needs_kernel
def test_lm_errors_surface_from_next(monkeypatch) -> None:
    from dstorch.scorer import Scorer

    search = decode_kernel.KernelBeamSearch(ENGLISH, 16, Scorer(SCORER))  # a cold cache

    def broken(ngram):
        raise RuntimeError("kenlm exploded")

    monkeypatch.setattr(search, "_terms_of", broken)
    with pytest.raises(RuntimeError, match="kenlm exploded"):
        search.next(spelled("stop the music"))


@needs_kernel
def test_lm_cache_is_shared_by_later_searches(monkeypatch) -> None:
    """A second search with the same settings asks KenLM nothing and finds the same
    candidates; other alpha or hot words get a cache of their own."""
    from dstorch.scorer import Scorer

    sc, probs, calls = Scorer(SCORER), random_probs(3, steps=200), []
    first = run(decode_kernel.KernelBeamSearch(ENGLISH, 64, sc), probs)
    (cache,) = sc.decoder_caches.values()
    assert len(cache) == 1 and len(cache[0]) > 0
    original = decode_kernel.KernelBeamSearch._terms_of

    def counted(self, ngram):
        calls.append(ngram)
        return original(self, ngram)

    monkeypatch.setattr(decode_kernel.KernelBeamSearch, "_terms_of", counted)
    assert run(decode_kernel.KernelBeamSearch(ENGLISH, 64, sc), probs) == first
    assert calls == []
    for alpha, hot in [(sc.alpha, HOT), (0.5, None)]:
        sc.alpha = alpha
        ref = run(decode_kernel.KernelBeamSearch(ENGLISH, 64, Scorer(SCORER, alpha), hot), probs)
        assert run(decode_kernel.KernelBeamSearch(ENGLISH, 64, sc, hot), probs) == ref
    assert len(sc.decoder_caches) == 3 and calls


def test_backend_choice_and_fallback(tmp_path: Path, monkeypatch, scorer) -> None:
    """make_search uses the kernel when it built; without a compiler (or when told to) the
    flag says "python" and FastBeamSearch is used."""
    expected = (
        FastBeamSearch if decode_kernel.BACKEND == "python" else decode_kernel.KernelBeamSearch
    )
    assert type(make_search(ENGLISH, 8, scorer)) is expected
    monkeypatch.setattr(decode_kernel, "_cache_dirs", lambda: [tmp_path / "k"])
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    lib, why = decode_kernel._load()
    assert lib is None and "no-such-compiler" in why
    code = "from dstorch import decode_kernel as k, decode_fast as f; " \
           "print(k.BACKEND, type(f.make_search([' ', 'a'], 4)).__name__)"  # fmt: skip
    env = dict(os.environ, DSTORCH_DECODER="python")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["python", "FastBeamSearch"], out.stderr
    from dstorch.scorer import Scorer

    utf8 = Scorer(SCORER.with_name("bytes.scorer"))  # no UTF-8 mode in the array decoders
    assert type(make_search([chr(i + 1) for i in range(255)], 8, utf8)) is BeamSearch


@pytest.fixture(scope="module")
def sharp_pbmm(tmp_path_factory) -> Path:
    """A random model with a sharpened output layer (like a trained one), as .pbmm."""
    from dstorch.data import Alphabet
    from dstorch.export import export_model

    model = random_model(C, seed=11, n_hidden=64)
    with torch.no_grad():
        model.layer_6.weight.mul_(8.0)
        model.layer_6.bias.mul_(8.0)
    return export_model(model, Alphabet(ENGLISH), tmp_path_factory.mktemp("m"), "sharp")[1]


@needs_kernel
def test_parity_with_official_client_beam_500(sharp_pbmm: Path, deepspeech_lib) -> None:
    """The kernel (what Transcriber uses) against libdeepspeech.so at the default beam,
    without a scorer, with one and with hot words, on 10 s of speech."""
    from dstorch.client import OfficialModel
    from dstorch.transcribe import Transcriber

    pcm = np.resize(np.concatenate([load_clip("speech"), load_clip("noise")]), 160000)
    with OfficialModel(sharp_pbmm, deepspeech_lib) as client:
        client.set_beam_width(500)
        for sc, hot in [(None, {}), (SCORER, {}), (SCORER, {"music": 4.0, "off": -3.0})]:
            if sc:
                client.enable_scorer(sc)
            for word, boost in hot.items():
                client.add_hot_word(word, boost)
            ours = Transcriber(sharp_pbmm, sc, beam_width=500, hot_words=hot)
            assert isinstance(ours.stream().search, decode_kernel.KernelBeamSearch)
            ref, got = client.stt_with_metadata(pcm, 3), ours.transcribe(pcm, 3)
            assert [c.text for c in got] == [r.text for r in ref]
            assert [c.timesteps for c in got] == [[t.timestep for t in r.tokens] for r in ref]
            for c, r in zip(got, ref, strict=True):
                assert c.confidence == pytest.approx(r.confidence, abs=1e-3)
