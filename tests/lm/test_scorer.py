"""KenLM external scorer: building, the vocabulary trie, reading, the real client.

The ConstFst format itself is tested in test_fst.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ENGLISH, FIXTURES_DIR, load_clip

from dstorch.lm.scorer import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    ScorerError,
    build_scorer,
    choose_order,
    find_kenlm_bin,
    read_scorer,
    vocabulary_fst,
    word_labels,
)

FIXTURES = FIXTURES_DIR / "scorer"
COMMANDS = FIXTURES / "commands.scorer"  # build_scorer(COMMAND_SENTENCES, ENGLISH)
COMMAND_SENTENCES = [
    "turn on the light",
    "turn off the light",
    "play music",
    "stop the music",
    "open the door",
]
VOCAB = {w for s in COMMAND_SENTENCES for w in s.split()}
DS_ERR_INVALID_SCORER = 0x2002  # every scorer load failure in DS_EnableExternalScorer


@pytest.fixture(scope="session")
def kenlm_bin() -> Path:
    try:
        return find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def built(kenlm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scorer") / "commands.scorer"
    return build_scorer(COMMAND_SENTENCES, ENGLISH, out, kenlm_bin=kenlm_bin)


def test_choose_order() -> None:
    assert choose_order(["stop"]) == 2
    assert choose_order(["turn on the light", "stop"]) == 5
    assert choose_order(["a b c"]) == 4


def test_vocabulary_trie_accepts_exactly_the_words() -> None:
    fst = vocabulary_fst(["cat", "bat", "cats", "<unk>", "d0g"], ENGLISH)
    space = ENGLISH.index(" ") + 1
    for word in ("cat", "bat", "cats"):
        assert fst.accepts(word_labels(word, ENGLISH, False))
        assert not fst.accepts(word_labels(word, ENGLISH, False)[:-1])  # needs the space
    assert not fst.accepts(word_labels("ca", ENGLISH, False))
    assert not fst.accepts([space])
    assert word_labels("d0g", ENGLISH, False) is None  # skipped: "0" is not a label


def test_read_committed_scorer() -> None:
    sc = read_scorer(COMMANDS)
    assert (sc.utf8, sc.alpha, sc.beta) == (False, DEFAULT_ALPHA, DEFAULT_BETA)
    raw = COMMANDS.read_bytes()
    assert raw.startswith(b"mmap lm ") and raw[sc.lm_size : sc.lm_size + 4] == b"EIRT"
    for word in VOCAB:
        assert sc.fst.accepts(word_labels(word, ENGLISH, False))
    assert not sc.fst.accepts(word_labels("lights", ENGLISH, False))
    utf8 = read_scorer(FIXTURES / "bytes.scorer")
    assert (utf8.utf8, utf8.alpha, utf8.beta) == (True, 0.5, 1.5)
    assert utf8.fst.accepts(list("é".encode())) and not utf8.fst.accepts(list(b"\xc3"))


def test_build_scorer_round_trip(built: Path) -> None:
    sc = read_scorer(built)
    assert sc.fst.num_states == read_scorer(COMMANDS).fst.num_states
    for word in VOCAB:
        assert sc.fst.accepts(word_labels(word, ENGLISH, False))
    kenlm = pytest.importorskip("kenlm")
    lm = kenlm.Model(str(built))
    assert lm.order == 5 and all(w in lm for w in VOCAB) and "lamp" not in lm


def test_build_scorer_options(kenlm_bin: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("dim the lamp\nCAFÉ au lait\n", encoding="utf-8")
    out = build_scorer(
        ["stop"], ENGLISH, tmp_path / "o.scorer", 0.25, 2.5, kenlm_bin=kenlm_bin, extra_text=extra
    )
    sc = read_scorer(out)
    assert (sc.alpha, sc.beta) == (0.25, 2.5)
    assert sc.fst.accepts(word_labels("lamp", ENGLISH, False))
    assert sc.fst.accepts(word_labels("au", ENGLISH, False))  # "CAFÉ" is not spellable


@pytest.mark.parametrize(
    ("sentences", "labels", "match"),
    [
        ([], ENGLISH, "no sentences"),
        (["  ", ""], ENGLISH, "no sentences"),
        (["turn on the Light"], ENGLISH, "outside the alphabet: 'L'"),
        (["stop <unk>"], [*ENGLISH, "<", ">"], "reserved"),
        (["stop"], [c for c in ENGLISH if c != " "], "no space label"),
    ],
)
def test_build_scorer_input_errors(sentences, labels, match, tmp_path: Path) -> None:
    with pytest.raises(ScorerError, match=match):
        build_scorer(sentences, labels, tmp_path / "x.scorer")
    assert not (tmp_path / "x.scorer").exists()


def test_build_scorer_order_and_missing_kenlm(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ScorerError, match="order 9"):
        build_scorer(["stop"], ENGLISH, tmp_path / "x.scorer", order=9)
    monkeypatch.setattr("dstorch.lm.scorer.SOURCE_ROOT", tmp_path)
    monkeypatch.delenv("DSTORCH_KENLM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ScorerError, match="build_kenlm.sh"):
        build_scorer(["stop"], ENGLISH, tmp_path / "x.scorer")


def _variants(tmp_path: Path) -> dict[str, Path]:
    """Malformed scorer files derived from the committed fixture."""
    raw = COMMANDS.read_bytes()
    lm_size = read_scorer(COMMANDS).lm_size
    bad_version = bytearray(raw)
    bad_version[lm_size + 4] = 5
    files = {
        "missing": tmp_path / "missing.scorer",
        "arpa": b"\\data\\\nngram 1=3\n",
        "garbage": b"not a language model at all",
        "bare_lm": raw[:lm_size],
        "version": bytes(bad_version),
        "truncated": raw[:-5],
        "trailing": raw + b"\0" * 16,
    }
    out = {}
    for name, data in files.items():
        out[name] = data if isinstance(data, Path) else tmp_path / f"{name}.scorer"
        if not isinstance(data, Path):
            out[name].write_bytes(data)
    return out


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("missing", "cannot open"),
        ("arpa", "ARPA"),
        ("garbage", "not a KenLM binary"),
        ("bare_lm", "no vocabulary trie"),
        ("version", "unsupported version"),
        ("truncated", "truncated FST"),
        ("trailing", "trailing bytes"),
    ],
)
def test_read_scorer_errors_name_file_and_fix(name: str, match: str, tmp_path: Path) -> None:
    path = _variants(tmp_path)[name]
    with pytest.raises(ScorerError, match=match) as err:
        read_scorer(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(err.value, ValueError)


def test_real_client_enables_our_scorer(
    deepspeech_lib: Path, exported: dict[str, Path], built: Path, tmp_path: Path
) -> None:
    """DS_EnableExternalScorer returns 0 for our scorers and decodes only vocabulary words."""
    from dstorch.inference.official import ClientError, OfficialModel, load_library

    lib = load_library(deepspeech_lib)
    with OfficialModel(exported["pbmm"], deepspeech_lib) as model:
        for path in (built, COMMANDS, FIXTURES / "bytes.scorer"):
            assert lib.DS_EnableExternalScorer(model._live(), str(path).encode()) == 0
        assert lib.DS_EnableExternalScorer(model._live(), str(built).encode()) == 0
        text = model.stt(load_clip("speech"))
        assert text.split() and set(text.split()) <= VOCAB
        # The client refuses what read_scorer refuses (every failure is 0x2002).
        variants = _variants(tmp_path)
        for name in ("missing", "arpa", "garbage", "bare_lm", "version"):
            with pytest.raises(ClientError) as err:
                model.enable_scorer(variants[name])
            assert err.value.code == DS_ERR_INVALID_SCORER, name
