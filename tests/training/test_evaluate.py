"""dstorch.training.evaluate: edit distance, greedy decoding and corpus figures (report.json:
test_report_schema.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dstorch.alphabet import Alphabet
from dstorch.training.evaluate import edit_distance, greedy_decode, summarize
from dstorch.training.report_schema import (
    Result,
)


def result(wav: str, reference: str, prediction: str, loss: float = 1.0) -> Result:
    words = max(len(reference.split()), 1)
    return Result(
        wav=wav,
        reference=reference,
        prediction=prediction,
        loss=loss,
        wer=edit_distance(reference.split(), prediction.split()) / words,
        cer=edit_distance(reference, prediction) / max(len(reference), 1),
    )


RESULTS = [
    result("/d/a.wav", "turn on the light", "turn on the light", 0.5),
    result("/d/b.wav", "stop", "top", 2.0),
    result("/d/c.wav", "play music", "play", 3.5),
]


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], ["a", "b"]) == 0


def test_greedy_decode_merges_repeats_and_drops_blanks() -> None:
    alphabet = Alphabet([" ", "a", "b"])  # blank is index 3
    path = [1, 1, 3, 1, 2, 3, 3, 0, 2, 2]  # a a _ a b _ _ ' ' b b
    log_probs = np.log(np.eye(4)[path] * 0.97 + 0.01)
    assert greedy_decode(log_probs, alphabet) == "aab b"


def test_corpus_figures_weigh_by_reference_length() -> None:
    figures = summarize(RESULTS)
    # Word errors 0 + 1 + 1 over 4 + 1 + 2 words, not the mean of per-sample WERs.
    assert figures.wer == pytest.approx(2 / 7)
    assert figures.cer == pytest.approx((0 + 1 + 6) / (17 + 4 + 10))
    assert figures.accuracy == pytest.approx(1 / 3) and figures.samples == 3
    assert figures.mean_loss == pytest.approx(2.0)
    # Ranked best first by the sample's own WER: "play" misses half, "top" all of "stop".
    assert [r.wav for r in figures.results] == ["/d/a.wav", "/d/c.wav", "/d/b.wav"]


def test_summary_of_nothing() -> None:
    assert summarize([]).samples == 0 and summarize([]).mean_loss is None
