"""scripts/bench_transcribe.py times our scorer decoding cold, as the client always runs."""

from __future__ import annotations

import importlib.util

import torch
from conftest import ENGLISH, ROOT, load_clip, random_model

SCORER = ROOT / "tests" / "fixtures" / "scorer" / "commands.scorer"


def bench_module():
    spec = importlib.util.spec_from_file_location(
        "bench_transcribe", ROOT / "scripts" / "bench_transcribe.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lm_cache(scorer) -> tuple:
    """What the scorer has cached: our LM scores and the decoders' cache sizes."""
    decoders = sorted((repr(k), len(v)) for k, v in scorer.decoder_caches.items())
    return frozenset(scorer._cache), tuple(decoders)


def test_timed_calls_start_with_empty_lm_caches(tmp_path):
    from dstorch.alphabet import Alphabet
    from dstorch.export import export_model
    from dstorch.inference.transcribe import Transcriber

    model = random_model(len(ENGLISH) + 1, seed=7, n_hidden=32)
    with torch.no_grad():
        model.layer_6.weight.mul_(8.0)
        model.layer_6.bias.mul_(8.0)
    pbmm = export_model(model, Alphabet(ENGLISH), tmp_path, "m")[1]
    speech, noise = load_clip("speech"), load_clip("noise")
    ours = Transcriber(pbmm, SCORER, beam_width=16)
    first = ours.text(speech)
    after_speech = lm_cache(ours.scorer)
    assert after_speech != (frozenset(), ()), "decoding filled no cache: nothing to test"
    ours.text(noise)
    assert lm_cache(ours.scorer) != after_speech  # a warm cache would carry this over
    bench = bench_module()
    assert bench.cold_text(ours, speech) == first
    assert lm_cache(ours.scorer) == after_speech  # only what this clip needs, from empty
