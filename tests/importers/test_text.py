"""Transcript normalisation against an alphabet."""

import pytest
from conftest import ENGLISH

from dstorch.alphabet import Alphabet
from dstorch.importers.text import Normaliser
from dstorch.prepare.problems import FileProblem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HE’S  Opening the DOOR.", "he's opening the door"),
        ("well-known, “quoted” words!", "well known quoted words"),
        ("Café Noël", "cafe noel"),
    ],
)
def test_english_alphabet(text, expected):
    assert Normaliser(Alphabet(ENGLISH))(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("It costs 42 dollars", "bad_chars"),
        ("Ελληνικά", "bad_chars"),
        ("?!...", "empty_transcript"),
    ],
)
def test_rows_that_cannot_be_normalised(text, code):
    with pytest.raises(FileProblem) as caught:
        Normaliser(Alphabet(ENGLISH))(text)
    assert caught.value.code == code


def test_without_alphabet_any_script_is_kept_but_not_digits():
    normalise = Normaliser()
    assert normalise("Καλημέρα, Κόσμε!") == "καλημέρα κόσμε"
    assert normalise("Café") == "café"
    with pytest.raises(FileProblem, match="'3'"):
        normalise("3 apples")
