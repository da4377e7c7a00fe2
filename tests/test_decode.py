"""CTC beam search: synthetic cases, the scorer, and parity with the official client."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, our_log_probs, random_model

from dstorch.decode import (
    BeamSearch,
    Candidate,
    DecodeError,
    beam_search,
    pruned_log_probs,
    word_timings,
)

FIXTURES = Path(__file__).parent / "fixtures" / "scorer"
C = len(ENGLISH) + 1
BLANK = C - 1


def soft(text: str, p: float = 0.6, blanks: int = 1) -> np.ndarray:
    """Log probs [T, C]: each character (then `blanks` blanks) gets p, the rest share 1 - p."""
    rows = []
    for label in [ENGLISH.index(ch) for ch in text]:
        for cls in [label] + [BLANK] * blanks:
            row = np.full(C, (1 - p) / (C - 1))
            row[cls] = p
            rows.append(row)
    return np.log(np.array(rows))


def greedy(log_probs: np.ndarray) -> tuple[str, list[int]]:
    best, out, steps, prev = log_probs.argmax(1), [], [], None
    for t, cls in enumerate(best):
        if cls != prev and cls != BLANK:
            out.append(ENGLISH[cls])
            steps.append(t)
        prev = cls
    return "".join(out), steps


@pytest.fixture(scope="module")
def commands():
    pytest.importorskip("kenlm")
    from dstorch.scorer import Scorer

    return Scorer(FIXTURES / "commands.scorer")


def test_prefix_merging_beats_best_path() -> None:
    # One label "a" + blank, P(blank) = 0.6 twice: best path is "" (0.36) but "a"
    # collects aa + a_ + _a = 0.64.
    probs = np.array([[0.4, 0.6], [0.4, 0.6]])
    best, second = beam_search(np.log(probs), ["a"], beam_width=4, num_results=2)
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
    (cand,) = beam_search(log_probs, ENGLISH, beam_width=16)
    text, steps = greedy(log_probs)
    assert (cand.text, cand.timesteps) == (text, steps)
    assert len(cand.tokens) == len(cand.timesteps)


def test_expansion_waits_for_a_non_blank_step_but_keeps_absolute_time() -> None:
    silent = np.full((5, C), 1e-5 / (C - 1))
    silent[:, BLANK] = 1 - 1e-5  # P(blank) >= 0.999: the client skips these steps
    log_probs = np.concatenate([np.log(silent), soft("hi")])
    (cand,) = beam_search(log_probs, ENGLISH, beam_width=8)
    assert cand.text == "hi" and cand.timesteps == [5, 7]
    assert cand.start_times == pytest.approx([0.1, 0.14])


def test_streaming_chunks_match_one_call() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(C, 0.3), size=40)
    whole = beam_search(np.log(probs), ENGLISH, 10, num_results=3)
    search = BeamSearch(ENGLISH, 10)
    for chunk in np.array_split(probs, [16, 32]):
        search.next(chunk)
    assert search.decode(3) == whole


def test_pruning_keeps_top_n_sorted() -> None:
    probs = np.random.default_rng(4).dirichlet(np.ones(60))
    idx, lp = pruned_log_probs(probs, 1.0, 40)
    assert len(idx) == 40 and np.all(np.diff(probs[idx]) <= 0)
    assert lp.dtype == np.float32 and np.allclose(lp, np.log(probs[idx]), atol=1e-6)
    idx, _ = pruned_log_probs(probs[:20] / probs[:20].sum(), 1.0, 40)
    assert list(idx) == list(range(20))  # fewer classes than cutoff_top_n: natural order


def test_word_timings_follow_the_native_client() -> None:
    labels = ENGLISH
    tokens = [labels.index(c) for c in "go now"]
    cand = Candidate("go now", -1.0, tokens, [3, 5, 9, 20, 22, 30])
    words = word_timings(cand, labels)
    assert [w.word for w in words] == ["go", "now"]
    assert words[0].start_time == pytest.approx(0.06) and words[0].duration == pytest.approx(0.12)
    assert words[1].start_time == pytest.approx(0.40) and words[1].duration == pytest.approx(0.20)


def test_input_errors() -> None:
    with pytest.raises(DecodeError, match=r"\[T, 29\]"):
        beam_search(np.zeros((4, 10)), ENGLISH, 8)
    with pytest.raises(DecodeError, match="beam width"):
        beam_search(soft("a"), ENGLISH, 0)
    with pytest.raises(DecodeError, match="need a scorer"):
        beam_search(soft("a"), ENGLISH, 8, hot_words={"a": 1.0})
    assert issubclass(DecodeError, ValueError)


def test_scorer_restricts_to_vocabulary(commands) -> None:
    log_probs = soft("turn on the lihgt")
    assert beam_search(log_probs, ENGLISH, 64)[0].text == "turn on the lihgt"
    assert beam_search(log_probs, ENGLISH, 64, scorer=commands)[0].text == "turn on the light"
    for cand in beam_search(soft("stop the musik"), ENGLISH, 64, commands, num_results=5):
        assert cand.text[0] != " " and "  " not in cand.text
        assert set(cand.text.split()) <= {"turn", "on", "off", "the", "light", "play", "music",
                                          "stop", "open", "door"}  # fmt: skip


def test_hot_word_boost_is_added_per_scored_ngram(commands) -> None:
    log_probs = soft("stop the music")
    plain = beam_search(log_probs, ENGLISH, 64, commands)[0]
    boosted = beam_search(log_probs, ENGLISH, 64, commands, hot_words={"stop": 3.0})[0]
    assert boosted.text == plain.text == "stop the music"
    # "stop" is in the n-gram scored at both spaces ("stop", then "stop the").
    gain = boosted.confidence - plain.confidence
    assert gain == pytest.approx(2 * 3.0 * commands.alpha, abs=1e-4)  # float32 scores


def test_utf8_scorer_scores_codepoints() -> None:
    pytest.importorskip("kenlm")
    from dstorch.scorer import Scorer

    scorer = Scorer(FIXTURES / "bytes.scorer")  # vocabulary: h é l o c a f 日 本
    labels = [chr(i + 1) for i in range(255)]  # UTF8Alphabet: label = byte - 1
    rows = []
    for byte in "café".encode():
        for cls in (byte - 1, 255):
            row = np.full(256, 0.3 / 255)
            row[cls] = 0.7
            rows.append(row)
    (cand,) = beam_search(np.log(rows), labels, 32, scorer=scorer)
    assert cand.text == "café" and len(cand.tokens) == 5


@pytest.mark.parametrize(
    ("seed", "seconds", "beam", "sharpen"), [(1, 2, 64, 1.0), (4, 2, 64, 1.0), (7, 10, 300, 8.0)]
)
def test_parity_with_official_client(
    seed: int, seconds: int, beam: int, sharpen: float, deepspeech_lib: Path, tmp_path: Path
) -> None:
    """Same transcripts, token timesteps and confidences as the client, without a scorer,
    with one, with hot words and with changed alpha/beta.

    Our PyTorch probabilities differ from the client's TensorFlow ones in the last float
    bits. On a random model's near-uniform outputs a long search is chaotic, so the long
    case sharpens the output layer (as training does) to keep the comparison meaningful.
    """
    pytest.importorskip("kenlm")
    from dstorch.client import OfficialModel
    from dstorch.data import Alphabet
    from dstorch.export import export_model
    from dstorch.scorer import Scorer

    model = random_model(C, seed=seed)
    with torch.no_grad():
        model.layer_6.weight.mul_(sharpen)
        model.layer_6.bias.mul_(sharpen)
    pb, _ = export_model(model, Alphabet(ENGLISH), tmp_path, "m")
    pcm = np.random.default_rng(seed).standard_normal(16000 * seconds) * 3000
    pcm = pcm.astype(np.int16)
    log_probs = our_log_probs(model, pcm)
    path = FIXTURES / "commands.scorer"
    scorer = Scorer(path)
    with OfficialModel(pb, deepspeech_lib) as client:
        client.set_beam_width(beam)
        settings = [(None, {}), (scorer, {}), (scorer, {"music": 4.0, "off": -3.0})]
        for i, (sc, hot) in enumerate([*settings, (scorer, {"door": 2.0})]):
            if i == 1:
                client.enable_scorer(path)
            for word, boost in hot.items():
                client.add_hot_word(word, boost)
            if i == 3:
                client.clear_hot_words()
                client.set_scorer_alpha_beta(0.5, 3.0)
                scorer.alpha, scorer.beta = 0.5, 3.0
            ref = client.stt_with_metadata(pcm, 3)
            ours = beam_search(log_probs, ENGLISH, beam, sc, hot or None, num_results=3)
            assert [c.text for c in ours] == [r.text for r in ref]
            assert [c.timesteps for c in ours] == [[t.timestep for t in r.tokens] for r in ref]
            for c, r in zip(ours, ref, strict=True):
                assert c.confidence == pytest.approx(r.confidence, abs=1e-3)
            if i == 2:
                client.clear_hot_words()
