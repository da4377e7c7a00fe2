"""Texts of speech that is no command: frequent words, pools, near-misses, sentences."""

import pytest

from dstorch.prepare.phrases import (
    HELD_OUT,
    TRAINING,
    TUNING,
    everyday_sentences,
    frequent_words,
    near_misses,
    pool,
    spellable,
)
from dstorch.prepare.problems import PrepareError

COMMANDS = ["turn on the light", "turn off the light", "stop"]


def test_frequent_words_are_words_and_pools_split_them():
    words = frequent_words("en", 500)
    assert len(words) == 500 and words[:3] == ["the", "to", "and"]
    assert all(w.replace("'", "").isalpha() and w == w.lower() for w in words)
    training, tuning, held_out = (pool(words, name) for name in (TRAINING, TUNING, HELD_OUT))
    assert not set(training) & set(held_out) and not set(tuning) & (set(training) | set(held_out))
    assert len(training) + len(tuning) + len(held_out) == 500
    assert 0.15 < len(held_out) / 500 < 0.35 and 0.15 < len(tuning) / 500 < 0.35  # by hash
    assert pool(frequent_words("en-us", 500), HELD_OUT) == held_out  # same on every call


def test_unknown_language_is_one_clear_line():
    with pytest.raises(PrepareError, match="LANGUAGE=xx.*GENERAL_SENTENCES=0"):
        frequent_words("xx")


def test_near_misses_change_one_word_and_are_no_command():
    words = pool(frequent_words("en", 800), TRAINING)
    phrases = near_misses(COMMANDS, 4, words, seed=1)
    assert len(phrases) == 12 and len(set(phrases)) == 12
    assert not set(phrases) & set(COMMANDS)
    for phrase in phrases:
        nearest = min(
            (c for c in COMMANDS if len(c.split()) == len(phrase.split())),
            key=lambda c: sum(a != b for a, b in zip(c.split(), phrase.split(), strict=True)),
        )
        changed = sum(a != b for a, b in zip(nearest.split(), phrase.split(), strict=True))
        assert changed == 1, phrase
    assert near_misses(COMMANDS, 4, words, seed=1) == phrases  # seeded
    assert near_misses(COMMANDS, 4, words, seed=2) != phrases


def test_everyday_sentences_are_distinct_and_avoid_commands():
    words = ["turn", "on", "the", "light", "stop"]
    sentences = everyday_sentences(30, words, seed=3, avoid=COMMANDS)
    assert len(sentences) == len(set(sentences)) == 30
    assert not set(sentences) & set(COMMANDS)
    assert all(2 <= len(s.split()) <= 6 for s in sentences)


def test_spellable_keeps_texts_of_the_alphabet():
    assert spellable(["it's on", "café"], [" ", "'", *"itsonc"]) == ["it's on"]
