"""The command-strict LM (LM_MODE=commands): ARPA entries, and what the client's scoring
makes of it once KenLM has built it."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from conftest import ENGLISH

from dstorch.lm import arpa
from dstorch.lm.arpa import OUTSIDE_BACKOFF, Entry, command_ngrams, command_order
from dstorch.lm.scorer import KENLM_MAX_ORDER, Scorer, ScorerError, build_scorer, find_kenlm_bin

LN10 = math.log(10)


def kenlm_or_skip() -> Path:
    pytest.importorskip("kenlm")
    try:
        return find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))


def test_entries_count_n_grams_of_bos_plus_command():
    table = command_ngrams(["stop", "stop music", "play music", "stop"], order=3)
    third = math.log10(1 / 3)
    assert table[0] == {
        ("music",): Entry(third, -10.0),
        ("play",): Entry(third, -10.0),
        ("stop",): Entry(third, -10.0),
        ("<s>",): Entry(-99.0, -10.0),
        ("</s>",): Entry(-99.0, None),
        ("<unk>",): Entry(-99.0, None),
    }
    # Duplicates count once: <s> starts 3 distinct commands, 2 of them with "stop".
    assert table[1] == {
        ("<s>", "play"): Entry(math.log10(1 / 3), -10.0),
        ("<s>", "stop"): Entry(math.log10(2 / 3), -10.0),
        ("play", "music"): Entry(0.0, -10.0),
        ("stop", "music"): Entry(math.log10(1 / 2), -10.0),  # "stop" also ends a command
    }
    assert table[2] == {  # the highest order: no back-off
        ("<s>", "play", "music"): Entry(0.0, None),
        ("<s>", "stop", "music"): Entry(math.log10(1 / 2), None),
    }


def test_order_is_the_longest_command_plus_one_within_kenlm():
    assert command_order(["go", "turn on the light"], 6) == 5
    assert command_order(["go"], 6) == 2
    assert command_order(["one two three four five six seven"], 6) == 6
    with pytest.raises(ValueError, match="no command sentences"):
        command_ngrams([" ", ""], 3)


def test_arpa_text_header_and_lines():
    text = arpa.arpa_text(command_ngrams(["go", "go home"], 3))
    lines = text.splitlines()
    assert lines[1:5] == ["\\data\\", "ngram 1=5", "ngram 2=2", "ngram 3=1"]
    assert "-0.301030\tgo\t-10.000000" in lines  # two words, uniform
    assert "-0.301030\tgo home\t-10.000000" in lines  # "go" ends one of two commands
    assert "-0.301030\t<s> go home" in lines and "-99.000000\t</s>" in lines
    assert text.rstrip().endswith("\\end\\")


def client_lm_score(lm: Scorer, words: tuple[str, ...]) -> float:
    """Sum of what the client adds (before alpha) as each word ends: ln P(word | history),
    history = the last `order` words, from <s> while shorter than the order."""
    total = 0.0
    for end in range(1, len(words) + 1):
        ngram = words[max(0, end - lm.order) : end]
        total += lm.log_cond_prob(ngram, bos=len(ngram) < lm.order)
    return total


COMMANDS = ["stop", "please stop the music", "turn on the light", "turn off the light", "go"]


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Scorer:
    kenlm_or_skip()
    out = tmp_path_factory.mktemp("strict") / "commands.scorer"
    return Scorer(build_scorer(COMMANDS, ENGLISH, out, 2.0, 2.0, mode="commands"))


def is_prefix(words: tuple[str, ...], commands: list[str]) -> bool:
    return any(tuple(c.split()[: len(words)]) == words for c in commands)


def test_every_word_sequence_outside_the_commands_pays_the_back_off(strict: Scorer):
    """Every sequence of up to 5 vocabulary words: a command prefix costs at most
    ln(1 / number of commands); anything else at least one -10 (log10) back-off."""
    assert strict.order == 5 and (strict.file.alpha, strict.file.beta) == (2.0, 2.0)
    vocabulary = sorted({w for c in COMMANDS for w in c.split()})
    floor, ceiling = math.log(1 / len(COMMANDS)) - 1e-4, OUTSIDE_BACKOFF * LN10 + 1e-3
    counts = [0, 0]
    for n in range(1, 5):
        for words in itertools.product(vocabulary, repeat=n):
            score = client_lm_score(strict, words)
            inside = is_prefix(words, COMMANDS)
            counts[inside] += 1
            assert (score >= floor) if inside else (score <= ceiling), (words, score)
    assert counts[1] == 13 and counts[0] > 3000
    # A complete command followed by words of another is outside too ("stop the").
    assert client_lm_score(strict, ("stop", "the")) <= ceiling


def test_commands_longer_than_kenlm_allows_still_score_as_commands(tmp_path: Path):
    kenlm_or_skip()
    long = ["please turn on all of the lights now", "stop"]
    lm = Scorer(build_scorer(long, ENGLISH, tmp_path / "x.scorer", mode="commands"))
    assert lm.order == KENLM_MAX_ORDER
    for sentence in long:
        words = tuple(sentence.split())
        for n in range(1, len(words) + 1):
            assert client_lm_score(lm, words[:n]) >= math.log(1 / 2) - 1e-4
    assert client_lm_score(lm, ("stop", "now")) <= OUTSIDE_BACKOFF * LN10 + 1e-3


def test_open_mode_lets_word_salad_through(tmp_path: Path):
    """The contrast that makes the strict mode necessary: lmplz's LM (open) scores
    "stop the" far above the strict LM's back-off floor."""
    kenlm_or_skip()
    lm = Scorer(build_scorer(COMMANDS, ENGLISH, tmp_path / "open.scorer", mode="open"))
    assert client_lm_score(lm, ("stop", "the")) > OUTSIDE_BACKOFF * LN10 / 2


def test_unknown_mode_is_one_line(tmp_path: Path):
    with pytest.raises(ScorerError, match="LM mode 'strict' unknown; use open or commands"):
        build_scorer(["go"], ENGLISH, tmp_path / "x.scorer", mode="strict")


def test_utf8_strict_scorer_is_strict_over_codepoints(tmp_path: Path):
    """Bytes output mode: the strict LM's words are codepoints, spaces dropped; the
    vocabulary trie spells each codepoint in UTF-8 bytes."""
    kenlm_or_skip()
    greek = ["άνοιξε φως", "κλείσε"]
    path = build_scorer(greek, [], tmp_path / "el.scorer", utf8=True, mode="commands")
    lm = Scorer(path)
    assert lm.utf8 and lm.order == KENLM_MAX_ORDER  # 9 codepoints + <s>, capped
    assert lm.file.fst.accepts(list("ά".encode())) and not lm.file.fst.accepts(list(b" "))
    inside = client_lm_score(lm, tuple("άνοιξεφ"))
    outside = client_lm_score(lm, tuple("άνοιφ"))
    assert inside > OUTSIDE_BACKOFF * LN10 / 2 > outside


# --- the out-of-grammar (garbage) path ------------------------------------------------------

GARBAGE = ["the", "weather", "is", "nice", "light", "cat"]
ESCAPE = -2.0


def test_garbage_entries_put_the_escape_on_command_contexts_only():
    table = arpa.garbage_ngrams(["stop", "turn on the light"], GARBAGE, order=6, escape=ESCAPE)
    g = math.log10(1 / len(GARBAGE))
    assert table[0][("cat",)] == table[0][("the",)] == Entry(g, 0.0)  # shared: garbage
    assert table[0][("turn",)] == Entry(math.log10(1 / 5) + OUTSIDE_BACKOFF, 0.0)
    assert table[0][("<s>",)] == Entry(-99.0, ESCAPE)
    assert table[1][("<s>", "turn")] == Entry(math.log10(1 / 2), ESCAPE)
    assert table[1][("turn", "on")] == Entry(OUTSIDE_BACKOFF, 0.0)  # reached by backing off
    assert table[4][("<s>", "turn", "on", "the", "light")] == Entry(0.0, ESCAPE)
    assert table[5] == {}  # one order more: the word after a command is seen from <s>
    with pytest.raises(ValueError, match="no garbage words"):
        arpa.garbage_ngrams(["stop"], ["<unk>"], 3, ESCAPE)


@pytest.fixture(scope="module")
def garbage_lm(tmp_path_factory) -> Scorer:
    kenlm_or_skip()
    out = tmp_path_factory.mktemp("garbage") / "garbage.scorer"
    junk = [*GARBAGE, "naïve", "two words"]  # unspellable: left out; a line of two: split
    return Scorer(
        build_scorer(COMMANDS, ENGLISH, out, 2.0, 2.0, mode="commands", garbage=junk, escape=-2)
    )


def test_escape_is_paid_once_from_any_command_prefix_and_garbage_chains(garbage_lm: Scorer):
    """What the client adds (before alpha): leaving a command prefix for a garbage word
    costs escape + ln(1 / garbage words) once; more garbage words cost only the latter;
    command word salad still pays the -10 (log10) back-off."""
    g = math.log10(1 / 8) * LN10  # the 6 words, "two", "words"
    for command in COMMANDS:
        words = tuple(command.split())
        for n in range(len(words) + 1):
            base = client_lm_score(garbage_lm, words[:n])
            left = client_lm_score(garbage_lm, (*words[:n], "cat")) - base
            assert left == pytest.approx(ESCAPE * LN10 + g, abs=1e-3), (words[:n], left)
            chain = client_lm_score(garbage_lm, (*words[:n], "cat", "weather", "is"))
            assert chain - base - left == pytest.approx(2 * g, abs=1e-3)
    assert client_lm_score(garbage_lm, ("turn", "on", "off")) < OUTSIDE_BACKOFF * LN10
    assert client_lm_score(garbage_lm, ("turn", "on", "the", "light")) == pytest.approx(
        math.log(2 / 5) + math.log(1 / 2),
        abs=1e-3,  # 2 of 5 commands start "turn"
    )
    fst = garbage_lm.file.fst
    assert fst.accepts([ENGLISH.index(c) + 1 for c in "cat "])
    assert fst.accepts([ENGLISH.index(c) + 1 for c in "words "])


def test_no_garbage_builds_the_same_scorer(tmp_path: Path):
    kenlm_or_skip()
    plain = build_scorer(COMMANDS, ENGLISH, tmp_path / "a.scorer", mode="commands")
    empty = build_scorer(COMMANDS, ENGLISH, tmp_path / "b.scorer", mode="commands", garbage=[])
    assert plain.read_bytes() == empty.read_bytes()


def test_our_decoder_answers_garbage_yet_keeps_the_commands(strict: Scorer, garbage_lm: Scorer):
    """Probabilities spelling a non-command: the strict scorer forces a command (prefix),
    the garbage path answers what was spelt. A command spelt just as softly still wins."""
    from decoder_helpers import soft

    from dstorch.decoder import beam_search

    spelt = soft("the weather is nice", p=0.6)
    assert is_prefix(tuple(beam_search(spelt, ENGLISH, 64, strict)[0].text.split()), COMMANDS)
    assert beam_search(spelt, ENGLISH, 64, garbage_lm)[0].text == "the weather is nice"
    for command in COMMANDS:
        assert beam_search(soft(command, p=0.6), ENGLISH, 64, garbage_lm)[0].text == command
