"""dstorch.decoder.base: shared settings, float32 arithmetic, the LM term, results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ENGLISH
from decoder_helpers import C, implementation, soft

from dstorch.decoder import Candidate, DecodeError, beam_search, word_timings
from dstorch.decoder.base import (
    BeamSearchBase,
    close_word,
    end_word,
    hot_boost,
    log_sum_exp,
    pruned_log_probs,
    pruned_rows,
    rounded_alpha_beta,
)


def test_pruning_keeps_top_n_sorted() -> None:
    probs = np.random.default_rng(4).dirichlet(np.ones(60))
    idx, lp = pruned_log_probs(probs, 1.0, 40)
    assert len(idx) == 40 and np.all(np.diff(probs[idx]) <= 0)
    assert lp.dtype == np.float32 and np.allclose(lp, np.log(probs[idx]), atol=1e-6)
    idx, _ = pruned_log_probs(probs[:20] / probs[:20].sum(), 1.0, 40)
    assert list(idx) == list(range(20))  # fewer classes than cutoff_top_n: natural order
    idx, _ = pruned_log_probs(probs, 0.5, 40)
    assert probs[idx[:-1]].sum() < 0.5 <= probs[idx].sum()  # up to cumulative cutoff_prob


@pytest.mark.parametrize(("cutoff_prob", "top_n"), [(1.0, 40), (1.0, 10), (0.9, 40)])
def test_pruned_rows_equal_pruning_row_by_row(cutoff_prob: float, top_n: int) -> None:
    probs = np.random.default_rng(5).dirichlet(np.full(C, 0.3), size=7)
    cidx, lp, nk = pruned_rows(probs, cutoff_prob, top_n)
    for i, row in enumerate(probs):
        idx, logs = pruned_log_probs(row, cutoff_prob, top_n)
        assert nk[i] == len(idx)
        assert cidx[i, : nk[i]].tolist() == idx.tolist()
        assert lp[i, : nk[i]].tobytes() == logs.tobytes()


def test_log_sum_exp_is_float32_and_keeps_missing_paths() -> None:
    x = np.array([-np.inf, -1.0, -np.inf, 0.0], np.float32)
    y = np.array([-2.0, -np.inf, -np.inf, 0.0], np.float32)
    out = log_sum_exp(x, y)
    assert out.dtype == np.float32
    assert out[:3].tolist() == [-2.0, -1.0, -np.inf]
    assert out[3] == np.float32(math.log(2.0))


def test_lm_term_rounding_and_hot_boost() -> None:
    class Fake:  # the Scorer attributes rounded_alpha_beta reads
        alpha, beta = 0.1, 1.3

    assert rounded_alpha_beta(Fake()) == (float(np.float32(0.1)), float(np.float32(1.3)))
    hot = {"stop": np.float32(0.1), "the": np.float32(2.0)}
    f = np.float32  # every occurrence counts, summed in order in float32
    assert hot_boost(("stop", "the", "stop"), hot) == f(f(f(0.1) + f(2.0)) + f(0.1))
    assert hot_boost(("go",), hot) == 0.0
    # + term in float32, + beta in double, stored as float: differs from all-float64.
    score, term, beta = np.float32(-3.1), np.float32(-7.3), 0.1
    expected = np.float32(float(np.float32(score + term)) + beta)
    assert close_word(score, term, beta) == expected
    scores = np.array([score, score], np.float32)
    assert close_word(scores, np.array([term, term]), beta).tolist() == [expected] * 2
    assert end_word(score, term, beta) == np.float32(score + np.float32(float(term) + beta))


def test_word_timings_follow_the_native_client() -> None:
    tokens = [ENGLISH.index(c) for c in "go now"]
    cand = Candidate("go now", -1.0, tokens, [3, 5, 9, 20, 22, 30])
    words = word_timings(cand, ENGLISH)
    assert [w.word for w in words] == ["go", "now"]
    assert words[0].start_time == pytest.approx(0.06) and words[0].duration == pytest.approx(0.12)
    assert words[1].start_time == pytest.approx(0.40) and words[1].duration == pytest.approx(0.20)


@pytest.mark.parametrize("name", ["reference", "kernel"])
def test_input_errors(name: str) -> None:
    search = implementation(name)
    assert issubclass(search, BeamSearchBase)
    with pytest.raises(DecodeError, match=r"\[T, 29\]"):
        search(ENGLISH, 8).next(np.zeros((4, 10)))
    with pytest.raises(DecodeError, match="beam width"):
        search(ENGLISH, 0)
    with pytest.raises(DecodeError, match="need a scorer"):
        search(ENGLISH, 8, hot_words={"a": 1.0})
    with pytest.raises(DecodeError, match="need a scorer"):
        beam_search(soft("a"), ENGLISH, 8, hot_words={"a": 1.0})
    assert issubclass(DecodeError, ValueError)


def test_bytes_models_and_utf8_scorers_go_together(scorer) -> None:
    """Decoder.rst: a bytes model MUST NOT use a word scorer, nor a letter model a UTF-8 one."""
    from decoder_helpers import SCORER

    from dstorch.bytes_mode import BYTE_LABELS
    from dstorch.lm.scorer import Scorer

    with pytest.raises(DecodeError, match="is a word scorer but this is a bytes output mode"):
        BeamSearchBase(BYTE_LABELS, 8, scorer)
    with pytest.raises(DecodeError, match="bytes.scorer is a UTF-8 scorer but this is an alph"):
        BeamSearchBase(ENGLISH, 8, Scorer(SCORER.with_name("bytes.scorer")))
