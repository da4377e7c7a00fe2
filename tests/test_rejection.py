"""The four outcomes of an answer, and the gate file beside a model."""

import math

import pytest

from dstorch.rejection import (
    FALSE_ACCEPT,
    REJECTED,
    RIGHT,
    WRONG,
    Candidate,
    Gate,
    gate_path,
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


def test_gate_margin_and_per_second():
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


def test_gate_file_round_trip_and_errors(tmp_path):
    gate = Gate("margin", 1.5, 3, ("stop", "play music"))
    path = gate_path(tmp_path / "commands.pbmm")
    assert path == tmp_path / "commands.gate.json"
    gate.save(path)
    assert Gate.load(path) == gate
    path.write_text('{"version": 1, "measure": "vibes"}')
    with pytest.raises(ValueError, match="commands.gate.json: not a usable gate file"):
        Gate.load(path)
