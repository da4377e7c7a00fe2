"""Augmentation parameters: value ranges (`start:end~r`) and picking values from them."""

from __future__ import annotations

import numpy as np
import pytest

from dstorch.augment import ValueRange, pick
from dstorch.augment.params import parse_range


@pytest.mark.parametrize(
    "text, kind, expected",
    [
        ("5", int, ValueRange(5, 5, 0)),
        ("1.2~0.4", float, ValueRange(1.2, 1.2, 0.4)),
        ("-10:-40", float, ValueRange(-10.0, -40.0, 0.0)),
        ("2000:4000", int, ValueRange(2000, 4000, 0)),
        ("50:20~10", float, ValueRange(50.0, 20.0, 10.0)),
        (" 1:3~2 ", int, ValueRange(1, 3, 2)),
    ],
)
def test_parse_range_forms(text, kind, expected):
    value = parse_range(text, kind)
    assert value == expected
    assert isinstance(value.start, kind) and isinstance(value.r, kind)


@pytest.mark.parametrize("text", ["", "a", "1~2~3", "1:2:3", "1~-1", "nan", "1:inf"])
def test_parse_range_rejects(text):
    with pytest.raises(ValueError):
        parse_range(text, float)


def test_parse_range_int_rejects_fraction():
    with pytest.raises(ValueError, match="integer"):
        parse_range("1.5", int)


def test_pick_follows_clock_and_radius():
    rng = np.random.default_rng(0)
    moving = ValueRange(50.0, 20.0, 0.0)
    assert pick(moving, 0.0, rng) == 50.0
    assert pick(moving, 1.0, rng) == 20.0
    assert pick(moving, 0.5, rng) == 35.0
    assert pick(moving, 7.0, rng) == 20.0  # the clock is clamped to [0, 1]
    values = [pick(ValueRange(50.0, 20.0, 10.0), 1.0, rng) for _ in range(500)]
    assert 10.0 <= min(values) < 11.0 and 29.0 < max(values) <= 30.0


def test_pick_int_ranges_are_rounded_ints():
    rng = np.random.default_rng(1)
    values = [pick(ValueRange(1, 3, 2), 0.5, rng) for _ in range(500)]
    assert all(type(v) is int for v in values)
    assert set(values) == {0, 1, 2, 3, 4}
    assert pick(ValueRange(12000, 8000, 0), 0.25, rng) == 11000


def test_pick_is_deterministic_given_rng():
    value = ValueRange(0.0, 1.0, 0.5)
    a = [pick(value, 0.3, np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
