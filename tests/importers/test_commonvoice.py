"""Common Voice: clips/*.mp3 + TSV lists -> CSVs; a clip in several lists converts once."""

import csv

import pytest
from conftest import ENGLISH
from importer_helpers import SENTENCES, commonvoice_tree

from dstorch.alphabet import Alphabet
from dstorch.importers import CorpusError, importer
from dstorch.importers.run import import_corpus, role_files


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mp3_lists_become_csvs_normalised_to_the_alphabet(tmp_path):
    src = tmp_path / "cv-corpus-21.0" / "en"
    commonvoice_tree(src, {"train": [0, 1, 2], "dev": [3], "test": [1], "validated": [0, 1, 3]})
    alphabet = tmp_path / "alphabet.txt"
    alphabet.write_text("\n".join(ENGLISH) + "\n")
    out = tmp_path / "out"
    summary = import_corpus(importer("commonvoice"), src, out, alphabet=alphabet, workers=2)
    assert summary.converted == 4  # clips 0..3, each once though listed up to 3 times
    train = _rows(out / "train.csv")
    assert [r["transcript"] for r in train] == [SENTENCES[n][1] for n in (0, 1, 2)]
    assert [r["wav_filename"] for r in train] == [
        f"clips/common_voice_en_{n}.wav" for n in (0, 1, 2)
    ]
    assert _rows(out / "dev.csv")[0]["transcript"] == "a cafe by the sea"  # é -> e
    assert len(_rows(out / "validated.csv")) == 3
    assert Alphabet.from_file(out / "alphabet.txt").labels == ENGLISH  # the one given
    assert [role_files(out, r) for r in ("train", "dev", "test")] == [
        str(out / f"{name}.csv") for name in ("train", "dev", "test")
    ]


def test_bad_rows_are_reported_in_rejects_csv(tmp_path):
    src = tmp_path / "en"
    commonvoice_tree(src, {"train": [0, 1]})
    tsv = src / "train.tsv"
    extra = [
        "c9\tcommon_voice_en_99.mp3\t\tGone missing\t\t2\t0\t\t\t\t\ten\t",  # no such clip
        "c8\tcommon_voice_en_0.mp3\t\tIt costs 42 dollars\t\t2\t0\t\t\t\t\ten\t",  # digits
        "c7\tcommon_voice_en_1.mp3\t\t...\t\t2\t0\t\t\t\t\ten\t",  # nothing left
        "c6",  # a cut-off line
    ]
    tsv.write_text(tsv.read_text() + "\n".join(extra) + "\n")
    (src / "clips" / "common_voice_en_1.mp3").write_bytes(b"not audio at all")
    out = tmp_path / "out"
    summary = import_corpus(importer("commonvoice"), src, out, workers=1)
    assert summary.clips["train"] == 1
    assert summary.rejects == {
        "missing": 1,
        "bad_chars": 1,
        "empty_transcript": 1,
        "bad_row": 1,
        "unreadable": 1,
    }
    rejects = _rows(out / "rejects.csv")
    assert {r["problem"] for r in rejects} == set(summary.rejects)
    assert any("'4'" in r["message"] for r in rejects if r["problem"] == "bad_chars")


def test_a_folder_without_lists_is_one_clear_error(tmp_path):
    (tmp_path / "clips").mkdir()
    with pytest.raises(CorpusError, match="cv-corpus"):
        import_corpus(importer("commonvoice"), tmp_path, tmp_path.parent / "out")
