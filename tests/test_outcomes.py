"""Counting outcomes over a test: tallies, per-hour false accepts, confusion, confusable
pairs and the gate's trade-off curve."""

import math

import pytest

from dstorch.outcomes import (
    NEAR_MISS,
    SILENCE,
    SPEECH,
    Judged,
    Scored,
    confusable_pairs,
    negative_kind,
    pair_rows,
    scored,
    tally,
    to_json,
    tradeoff,
)
from dstorch.rejection import Candidate, Gate

COMMANDS = ["turn on the light", "turn off the light", "mirror", "ok mirror", "call mark"]
ON, OFF = COMMANDS[:2]


def test_tally_counts_outcomes_and_false_accepts_per_hour():
    judged = [
        Judged(ON, ON, 1.0),
        Judged(ON, OFF, 1.0),  # a wrong action
        Judged(ON, None, 1.0),  # the gate said no
        Judged(OFF, "turn off the", 1.0),  # no command: rejected
        Judged(None, "mirror", 1.5, said="hello mirror"),  # near miss accepted
        Judged(None, "the light is on", 2.0, said="the light is on over there"),
        Judged(None, "", 0.5, said=""),  # silence rejected
    ]
    result = tally(judged, COMMANDS)
    assert (result.right, result.wrong, result.rejected, result.positives) == (1, 1, 2, 4)
    assert result.share(result.wrong) == 0.25
    assert (result.negatives, result.false_accepts) == (3, 1)
    assert result.false_accept_share == pytest.approx(1 / 3)
    assert result.false_accepts_per_hour == pytest.approx(3600 / 4.0)  # 1 in 4 seconds
    assert result.by_kind == {NEAR_MISS: [1, 1], SPEECH: [0, 1], SILENCE: [0, 1]}
    assert result.confusion == {(ON, OFF): 1}
    data = to_json(result)
    assert data["confusion"] == [{"said": ON, "taken": OFF, "clips": 1}]
    assert data["negative_hours"] == pytest.approx(4.0 / 3600)


def test_an_empty_tally_has_no_shares():
    result = tally([], COMMANDS)
    assert result.share(0) is None and result.false_accept_share is None
    assert result.false_accepts_per_hour is None


def test_negative_kinds():
    assert negative_kind("  ", COMMANDS) == SILENCE
    assert negative_kind("turn up the light", COMMANDS) == NEAR_MISS
    assert negative_kind("call mark now", COMMANDS) == NEAR_MISS  # one word added
    assert negative_kind("the weather is fine today", COMMANDS) == SPEECH


def test_confusable_pairs_are_one_word_or_a_few_letters_apart():
    pairs = confusable_pairs([*COMMANDS, "call mike", "volume up"])
    assert (OFF, ON) in pairs  # sorted within the pair
    assert ("mirror", "ok mirror") in pairs and ("call mark", "call mike") in pairs
    assert not any("volume up" in pair for pair in pairs)
    assert confusable_pairs(["stop", "play music"]) == []


def test_pair_rows_count_each_way():
    judged = [Judged(ON, OFF, 1.0), Judged(ON, ON, 1.0), Judged(OFF, OFF, 1.0)]
    judged.append(Judged(None, ON, 1.0, said="hello"))  # negatives are no pair's clips
    (row,) = pair_rows([(OFF, ON)], judged)
    assert row == {"a": OFF, "b": ON, "a_clips": 1, "a_as_b": 0, "b_clips": 2, "b_as_a": 1}


def test_tradeoff_keeps_fewer_false_accepts_as_the_threshold_rises():
    clips = [
        Scored(-1.0, right=True, false_accept=False, negative=False),
        Scored(-3.0, right=True, false_accept=False, negative=False),
        Scored(-9.0, right=False, false_accept=False, negative=False),  # wrong: never counted
        Scored(-5.0, right=False, false_accept=True, negative=True),
        Scored(-2.0, right=False, false_accept=True, negative=True),
        Scored(math.inf, right=False, false_accept=False, negative=True),
    ]
    points = tradeoff(clips)
    assert points[0] == {"threshold": None, "right_share": 2 / 3, "false_accept_share": 2 / 3}
    assert [p["threshold"] for p in points] == [None, -3.0, -2.0, -1.0]
    assert points[-1] == {"threshold": -1.0, "right_share": 1 / 3, "false_accept_share": 0.0}
    shares = [p["false_accept_share"] for p in points]
    assert shares == sorted(shares, reverse=True)


def test_scored_uses_the_gates_measure():
    gate = Gate("confidence_per_second", -5.0, 1, (ON, OFF))
    clip = scored(ON, [Candidate(ON, -4.0)], 2.0, gate)
    assert clip == Scored(-2.0, right=True, false_accept=False, negative=False)
    negative = scored(None, [Candidate(OFF, -20.0)], 2.0, gate)
    assert negative.false_accept and negative.negative and negative.score == -10.0
    assert not scored(None, [], 1.0, gate).false_accept
