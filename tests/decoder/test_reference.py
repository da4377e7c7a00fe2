"""dstorch.decoder.reference: the oracle's CTC prefix search on cases worked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ENGLISH
from decoder_helpers import BLANK, SCORER, C, soft

from dstorch.decoder.reference import ReferenceBeamSearch


def decode(log_probs: np.ndarray, labels, beam: int, scorer=None, hot=None, n: int = 1):
    search = ReferenceBeamSearch(labels, beam, scorer, hot)
    search.next(np.exp(np.asarray(log_probs, np.float64)))
    return search.decode(n)


def greedy(log_probs: np.ndarray) -> tuple[str, list[int]]:
    best, out, steps, prev = log_probs.argmax(1), [], [], None
    for t, cls in enumerate(best):
        if cls != prev and cls != BLANK:
            out.append(ENGLISH[cls])
            steps.append(t)
        prev = cls
    return "".join(out), steps


def test_prefix_merging_beats_best_path() -> None:
    # One label "a" + blank, P(blank) = 0.6 twice: best path is "" (0.36) but "a"
    # collects aa + a_ + _a = 0.64.
    probs = np.array([[0.4, 0.6], [0.4, 0.6]])
    best, second = decode(np.log(probs), ["a"], 4, n=2)
    assert (best.text, second.text) == ("a", "")
    f32 = float(np.float32(math.log(0.4)))  # the client stores log probs as float
    f32_blank = float(np.float32(math.log(0.6)))
    expected = math.log(math.exp(2 * f32) + 2 * math.exp(f32 + f32_blank))
    assert best.confidence == pytest.approx(expected, abs=1e-5)  # float32 scores
    # The client keeps the timestep of the single best contribution: _a (0.24) beats
    # aa (0.16), so "a" is stamped at step 1.
    assert best.tokens == [0] and best.timesteps == [1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_peaked_outputs_equal_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    best = rng.integers(0, C, size=60)
    logits = rng.normal(size=(60, C))
    logits[np.arange(60), best] += 12.0
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    (cand,) = decode(log_probs, ENGLISH, 16)
    assert (cand.text, cand.timesteps) == greedy(log_probs)
    assert len(cand.tokens) == len(cand.timesteps)


def test_expansion_waits_for_a_non_blank_step_but_keeps_absolute_time() -> None:
    silent = np.full((5, C), 1e-5 / (C - 1))
    silent[:, BLANK] = 1 - 1e-5  # P(blank) >= 0.999: the client skips these steps
    (cand,) = decode(np.concatenate([np.log(silent), soft("hi")]), ENGLISH, 8)
    assert cand.text == "hi" and cand.timesteps == [5, 7]
    assert cand.start_times == pytest.approx([0.1, 0.14])


def test_streaming_chunks_match_one_call() -> None:
    probs = np.random.default_rng(3).dirichlet(np.full(C, 0.3), size=40)
    whole = decode(np.log(probs), ENGLISH, 10, n=3)
    search = ReferenceBeamSearch(ENGLISH, 10)
    for chunk in np.array_split(probs, [16, 32]):
        search.next(chunk)
    assert search.decode(3) == whole


def test_scorer_restricts_to_vocabulary(scorer) -> None:
    log_probs = soft("turn on the lihgt")
    assert decode(log_probs, ENGLISH, 64)[0].text == "turn on the lihgt"
    assert decode(log_probs, ENGLISH, 64, scorer)[0].text == "turn on the light"
    for cand in decode(soft("stop the musik"), ENGLISH, 64, scorer, n=5):
        assert cand.text[0] != " " and "  " not in cand.text
        assert set(cand.text.split()) <= {"turn", "on", "off", "the", "light", "play", "music",
                                          "stop", "open", "door"}  # fmt: skip


def test_hot_word_boost_is_added_per_scored_ngram(scorer) -> None:
    log_probs = soft("stop the music")
    plain = decode(log_probs, ENGLISH, 64, scorer)[0]
    boosted = decode(log_probs, ENGLISH, 64, scorer, {"stop": 3.0})[0]
    assert boosted.text == plain.text == "stop the music"
    # "stop" is in the n-gram scored at both spaces ("stop", then "stop the").
    gain = boosted.confidence - plain.confidence
    assert gain == pytest.approx(2 * 3.0 * scorer.alpha, abs=1e-4)  # float32 scores


def test_utf8_scorer_scores_codepoints() -> None:
    pytest.importorskip("kenlm")
    from dstorch.lm.scorer import Scorer

    utf8 = Scorer(Path(SCORER).with_name("bytes.scorer"))  # vocabulary: h é l o c a f 日 本
    labels = [chr(i + 1) for i in range(255)]  # UTF8Alphabet: label = byte - 1
    rows = []
    for byte in "café".encode():
        for cls in (byte - 1, 255):
            row = np.full(256, 0.3 / 255)
            row[cls] = 0.7
            rows.append(row)
    (cand,) = decode(np.log(rows), labels, 32, utf8)
    assert cand.text == "café" and len(cand.tokens) == 5
