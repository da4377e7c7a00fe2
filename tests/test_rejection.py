"""The four outcomes of an answer, and the gate file beside a model."""

import math
import statistics

import pytest

from dstorch.rejection import (
    FALSE_ACCEPT,
    GAP_BELOW,
    GATE_CANDIDATES,
    MARGIN,
    PER_CHARACTER,
    PER_SECOND,
    REJECTED,
    RIGHT,
    SPOKEN_CHARACTERS_PER_SECOND,
    WRONG,
    Candidate,
    Gate,
    Heard,
    Tally,
    calibrate,
    gate_path,
    gated_tally,
    lowest_kept,
    outcome,
)

COMMANDS = {"turn on the light", "turn off the light"}


@pytest.mark.parametrize(
    ("answer", "expected", "result"),
    [
        ("turn on the light", "turn on the light", RIGHT),
        (" turn on  the light ", "turn on the light", RIGHT),
        ("turn off the light", "turn on the light", WRONG),
        ("turn on the", "turn on the light", REJECTED),  # a prefix is no command
        ("", "turn on the light", REJECTED),
        (None, "turn on the light", REJECTED),  # the gate said no
        ("turn on the light", None, FALSE_ACCEPT),
        ("turn on the fan", None, REJECTED),
    ],
)
def test_outcome(answer, expected, result):
    assert outcome(answer, expected, COMMANDS) == result


def test_gate_margin_per_second_and_per_character():
    candidates = [Candidate("turn on the light", -10.0), Candidate("turn off the light", -14.0)]
    margin = Gate("margin", 3.0, 2, tuple(COMMANDS))
    assert margin.score(candidates, 1.0) == 4.0
    assert margin.command(candidates, 1.0) == "turn on the light"
    assert Gate("margin", 5.0, 2, tuple(COMMANDS)).command(candidates, 1.0) is None
    assert margin.score(candidates[:1], 1.0) == math.inf  # no rival: nothing to doubt
    per_second = Gate("confidence_per_second", -6.0, 1, tuple(COMMANDS))
    assert per_second.command(candidates, 2.0) == "turn on the light"  # -5 per second
    assert per_second.command(candidates, 1.0) is None
    assert margin.command([Candidate("turn on the", 0.0)], 1.0) is None  # not a command
    per_character = Gate(PER_CHARACTER, -0.6, 1, tuple(COMMANDS))
    assert per_character.score(candidates, 1.0) == pytest.approx(-10.0 / 17)  # spaces count
    assert per_character.score([Candidate(" turn on  the light ", -10.0)], 9.0) == (
        per_character.score(candidates, 1.0)  # the text as acted on; the clip's length aside
    )
    assert per_character.command(candidates, 1.0) == "turn on the light"
    assert per_character.command([Candidate("turn on the light", -11.0)], 1.0) is None


def test_gate_file_round_trip_and_errors(tmp_path):
    gate = Gate("margin", 1.5, 3, ("stop", "play music"))
    path = gate_path(tmp_path / "commands.pbmm")
    assert path == tmp_path / "commands.gate.json"
    gate.save(path)
    assert Gate.load(path) == gate
    path.write_text('{"version": 1, "measure": "vibes"}')
    with pytest.raises(ValueError, match="commands.gate.json: not a usable gate file"):
        Gate.load(path)


def heard(text: str, confidence: float, expected: str | None, rival: float | None = None):
    """A clip of 1 s whose top candidate is `text`, with a rival `rival` below it."""
    cands = [Candidate(text, confidence)]
    if rival is not None:
        cands.append(Candidate("turn on the", confidence - rival))
    return Heard(tuple(cands), 1.0, expected)


ON, OFF = "turn on the light", "turn off the light"


def test_tally_shares_weigh_positives_and_negatives_alike():
    pairs = [(ON, ON), (OFF, ON), (None, ON), (ON, None), ("turn on", None), ("x", None)]
    tally = Tally.of(pairs, COMMANDS)
    assert tally.as_dict() == {"right": 1, "wrong": 1, "rejected": 1, "false_accept": 1}
    assert tally.confusion == {(ON, OFF): 1}
    assert (tally.positives, tally.negatives) == (3, 3)
    assert tally.right_share == pytest.approx(1 / 3)
    assert tally.error_share == pytest.approx(1 / 3 + 1 / 3)
    assert tally.line() == "1/3 right, 1 wrong, 1 rejected, 1/3 false accepts"


def test_calibration_picks_the_measure_that_removes_the_most_within_the_loss():
    """Right commands are confident per second but some have close rivals; the wrong
    commands and false accepts are the least confident per second: that measure wins,
    and the threshold sits halfway between the most confident bad one and the next above."""
    right = [heard(ON, -2.0 - i / 10, ON, rival=0.5 if i % 3 == 0 else 9.0) for i in range(50)]
    bad = [heard(OFF, -9.0, ON, rival=9.0), heard(ON, -12.0, None, rival=9.0)]
    gate = calibrate(right + bad, COMMANDS, max_right_loss=0.02, measures=(PER_SECOND, MARGIN))
    assert gate.measure == PER_SECOND and gate.num_results == GATE_CANDIDATES
    assert gate.threshold == pytest.approx((-6.9 + -9.0) / 2)  # no right one need go
    after = gated_tally(gate, right + bad)
    assert after.as_dict() == {"right": 50, "wrong": 0, "rejected": 1, "false_accept": 0}
    # Bad clips among the lowest right ones: rejecting them would cost more than 2% of the
    # right commands to come (a normal fit to these puts 2% below -7.4), so they stay.
    mixed = [*right, heard(OFF, -6.85, ON, rival=9.0), heard(OFF, -6.75, ON, rival=9.0)]
    gate = calibrate(mixed, COMMANDS, max_right_loss=0.02, measures=(PER_SECOND, MARGIN))
    assert gate.threshold == pytest.approx(-6.9 - GAP_BELOW / 2)  # nothing caught
    assert gated_tally(gate, mixed).as_dict() == {
        "right": 50,
        "wrong": 2,
        "rejected": 0,
        "false_accept": 0,
    }
    assert set(gate.commands) == COMMANDS


def test_lowest_kept_fits_the_tail_a_few_clips_cannot_show():
    """Six dev commands have no 2% tail: their lowest score is the empirical quantile, a
    normal fit reaches lower; the lower of the two bounds what the gate may reject."""
    six = [-0.6, -0.8, -0.9, -1.0, -1.2, -1.5]
    mean, sd = sum(six) / 6, statistics.stdev(six)
    assert lowest_kept(six, 0.02) == pytest.approx(mean - 2.0537 * sd, abs=1e-3)
    assert lowest_kept(six, 0.02) < min(six)
    many = [-1.0 - i / 100 for i in range(100)] + [-9.0] * 3  # a tail of its own
    assert lowest_kept(many, 0.02) == -9.0
    assert lowest_kept([-1.0, -1.0, -1.0], 0.02) == -1.0  # no spread: the empirical one
    assert lowest_kept([5.0, math.inf, math.inf], 0.02) == 5.0  # margins with no rival


def test_calibration_on_margins_without_rivals_and_without_negatives():
    """Only the doubtful clips have rivals (finite margins): the margin gate takes them out.
    Nothing below the kept right scores: the threshold goes a little below them."""
    right = [heard(ON, -1.0, ON) for _ in range(20)]  # one candidate each: margin inf
    bad = [heard(OFF, -1.0, ON, rival=0.2), heard(OFF, -1.0, ON, rival=0.4)]
    gate = calibrate(right + bad, COMMANDS, max_right_loss=0.01, measures=(PER_CHARACTER, MARGIN))
    assert gate.measure == MARGIN and gate.threshold == pytest.approx(0.4 + GAP_BELOW / 2)
    assert gated_tally(gate, right + bad).wrong == 0
    assert gated_tally(gate, right + bad).right == 20
    clean = calibrate(right, COMMANDS)
    assert clean.measure == PER_CHARACTER  # nothing to remove: the first measure
    gap = GAP_BELOW / SPOKEN_CHARACTERS_PER_SECOND  # per character: a gap on its own scale
    assert clean.threshold == pytest.approx(-1.0 / len(ON) - gap / 2)
    assert calibrate([heard(OFF, -1.0, ON)], COMMANDS) is None  # nothing right to keep


def test_calibration_prefers_per_character_when_a_command_explains_part_of_the_clip():
    """A short command heard in a longer phrase ("mirror" in "hello mirror") scores like a
    whole command per second of audio, but low per character of its text: per character
    takes those false accepts and wrong commands out, per second cannot."""
    commands = {"mirror", "hello mirror"}
    right = [Heard((Candidate("mirror", -3.0 - i / 10),), 1.0, "mirror") for i in range(10)]
    right += [
        Heard((Candidate("hello mirror", -6.0 - i / 10),), 2.0, "hello mirror") for i in range(10)
    ]
    absorbed = [
        Heard((Candidate("mirror", -7.0),), 2.0, "hello mirror"),  # a wrong command
        Heard((Candidate("mirror", -6.5),), 2.0, None),  # "of mirror": a false accept
    ]
    gate = calibrate(right + absorbed, commands, max_right_loss=0.02)
    assert gate.measure == PER_CHARACTER
    after = gated_tally(gate, right + absorbed)
    assert after.as_dict() == {"right": 20, "wrong": 0, "rejected": 1, "false_accept": 0}
    per_second = calibrate(right + absorbed, commands, max_right_loss=0.02, measures=(PER_SECOND,))
    assert gated_tally(per_second, right + absorbed).error_share > 0


def test_calibration_keeps_a_short_command_whose_rival_is_close():
    """A short command leads its nearest rival by little ("stop" leads "shop" by about 5,
    "turn on the light" its rivals by 9 to 14): a margin threshold set on a few dev takes of
    "stop" cuts the next one a little less sure of itself. The scorer stage calibrates per
    character only, though the margin would reject one more dev clip here."""
    commands = {"stop", "turn on the light"}
    right = [heard("stop", -6.0 - i / 10, "stop", rival=5.5 + i / 10) for i in range(5)]
    bad = [heard("stop", -6.2, None, rival=5.0)]  # a near-miss with a close rival, confident
    by_margin = calibrate(right + bad, commands, measures=(MARGIN,))
    assert gated_tally(by_margin, right + bad).false_accepts == 0
    per_character = calibrate(right + bad, commands)
    assert per_character.measure == PER_CHARACTER
    assert gated_tally(per_character, right + bad).false_accepts == 1
    next_stop = heard("stop", -6.5, "stop", rival=5.2)
    assert by_margin.command(next_stop.candidates, next_stop.seconds) is None
    assert per_character.command(next_stop.candidates, next_stop.seconds) == "stop"
