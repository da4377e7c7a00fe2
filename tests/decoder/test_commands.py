"""dstorch.decoder.commands: constraining a transcript to one of a list of sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ENGLISH
from decoder_helpers import C

from dstorch.decoder.base import rounded_alpha_beta
from dstorch.decoder.commands import (
    CommandError,
    CommandGrammar,
    best_alignment,
    ctc_log_likelihoods,
    encode,
    load_commands,
)


def spelled_log_probs(text: str) -> np.ndarray:
    """Log probs [2 * len(text), C]: each character (P = 0.7), then a blank."""
    rows = []
    for ch in text:
        for cls in (ENGLISH.index(ch), C - 1):
            row = np.full(C, 0.3 / (C - 1))
            row[cls] = 0.7
            rows.append(row)
    return np.log(rows)


def test_commands_pick_the_likeliest_sentence() -> None:
    grammar = CommandGrammar(["stop the music", "turn on the light", "stop"], ENGLISH)
    best, second = grammar.rank(spelled_log_probs("stop the musik"), num_results=2)
    assert (best.text, second.text) == ("stop the music", "stop")  # a near miss of one
    assert best.timesteps == list(range(0, 28, 2))  # each label on its own step
    # Exact CTC likelihood: one label "a" over two steps = P(aa) + P(a_) + P(_a).
    lp = np.log([[0.4, 0.6], [0.3, 0.7]])
    got = ctc_log_likelihoods(lp, [[0]])[0]
    assert got == pytest.approx(np.log(0.4 * 0.3 + 0.4 * 0.7 + 0.6 * 0.3))
    assert best_alignment(lp, [0]) == [0]


def test_too_short_for_every_sentence_gives_an_empty_candidate() -> None:
    grammar = CommandGrammar(["stop the music"], ENGLISH)
    (cand,) = grammar.rank(spelled_log_probs("st"))
    assert cand.text == "" and cand.confidence == float("-inf")


def test_lm_scores_add_what_the_beam_search_adds(scorer) -> None:
    """alpha * (LM + hot boost) + beta per word; the last word gets no hot boost."""
    grammar = CommandGrammar(["stop the music"], ENGLISH)
    alpha, beta = rounded_alpha_beta(scorer)
    plain = grammar.lm_scores(scorer, {})[0]
    boosted = grammar.lm_scores(scorer, {"stop": 2.0, "music": 5.0})[0]
    # "stop" is in the n-grams closed by both spaces; "music" ends the sentence.
    assert boosted - plain == pytest.approx(2 * alpha * 2.0)
    ngrams = [("stop",), ("stop", "the"), ("stop", "the", "music")[-scorer.order :]]
    lm = [scorer.log_cond_prob(g, len(g) < scorer.order) for g in ngrams]
    assert plain == pytest.approx(sum(alpha * v + beta for v in lm))


def test_load_commands_from_csv_and_text(tmp_path: Path) -> None:
    csv = tmp_path / "commands.csv"
    csv.write_text("id,en,de\n1,Turn on the light!\n2,stop,halt\n3,stop\n", encoding="utf-8")
    assert load_commands(csv, ENGLISH) == ["turn on the light", "stop"]  # deduplicated
    text = tmp_path / "commands.txt"
    text.write_text("Play music\n\nopen the door\n", encoding="utf-8")
    assert load_commands(text, ENGLISH) == ["play music", "open the door"]
    assert encode("go", ENGLISH) == [ENGLISH.index("g"), ENGLISH.index("o")]


def test_bad_commands_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not found"):
        load_commands(tmp_path / "none.csv", ENGLISH)
    (tmp_path / "empty.txt").write_text("\n!!\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no command sentences"):
        load_commands(tmp_path / "empty.txt", ENGLISH)
    (tmp_path / "ids.csv").write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no language column"):
        load_commands(tmp_path / "ids.csv", ENGLISH)
    with pytest.raises(CommandError, match="not in the model's alphabet"):
        CommandGrammar(["café"], ENGLISH)


def test_bytes_output_mode_spells_commands_in_bytes() -> None:
    """A bytes model's commands are their UTF-8 bytes (label = byte - 1); ranking and the
    word timings decode the bytes back to text."""
    from dstorch.bytes_mode import BYTE_LABELS
    from dstorch.decoder import word_timings

    assert encode("开 a", BYTE_LABELS) == [0xE4, 0xBB, 0x7F, 0x1F, 0x60]  # E5 BC 80, 20, 61
    grammar = CommandGrammar(["开灯", "关灯"], BYTE_LABELS)
    rows = []
    for label in grammar.targets[1]:
        for cls in (label, 255):
            row = np.full(256, 0.3 / 255)
            row[cls] = 0.7
            rows.append(row)
    best, second = grammar.rank(np.log(rows), num_results=2)
    assert (best.text, second.text) == ("关灯", "开灯")
    assert [w.word for w in word_timings(best, BYTE_LABELS)] == ["关灯"]
