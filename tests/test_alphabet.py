"""The alphabet: alphabet.txt round trip and the client's binary layout."""

import struct

from conftest import FIXTURES_DIR

from dstorch.alphabet import Alphabet, ctc_steps_needed

FIXTURES = FIXTURES_DIR / "clips"


def test_alphabet_file_round_trip(tmp_path):
    alphabet = Alphabet.from_file(FIXTURES / "alphabet.txt")
    assert alphabet.labels[0] == " " and alphabet.labels[-1] == "'" and len(alphabet) == 28
    Alphabet(["#", " ", "a"]).save(tmp_path / "a.txt")
    assert Alphabet.from_file(tmp_path / "a.txt").labels == ["#", " ", "a"]


def test_alphabet_serialization_layout():
    raw = Alphabet([" ", "é"]).serialize()
    assert raw == struct.pack("<HHH", 2, 0, 1) + b" " + struct.pack("<HH", 1, 2) + "é".encode()


def test_a_repeated_letter_needs_a_blank_between():
    letters = Alphabet.of(list(" abcdefghijklmnopqrstuvwxyz'"))
    assert ctc_steps_needed(letters.encode("call")) == 5
    assert ctc_steps_needed(letters.encode("cal")) == 3
    assert ctc_steps_needed("call") == 5  # text spells the same as its labels
    assert ctc_steps_needed([]) == 0
