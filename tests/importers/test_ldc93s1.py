"""LDC93S1: the one-sentence sample trains, tunes and tests, as in run-ldc93s1.sh."""

import csv

import pytest
from importer_helpers import ldc93s1_tree

from dstorch.importers import CorpusError, importer
from dstorch.importers.run import import_corpus, role_files


def test_the_sample_becomes_one_csv_for_every_role(tmp_path):
    wav = ldc93s1_tree(tmp_path / "src")
    out = tmp_path / "out"
    import_corpus(importer("ldc93s1"), wav, out)  # the .wav itself, or its folder
    with open(out / "ldc93s1.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["transcript"] == "she had your dark suit in greasy wash water all year"
    assert row["wav_filename"] == "clips/LDC93S1.wav"
    assert {role_files(out, r) for r in ("train", "dev", "test")} == {str(out / "ldc93s1.csv")}


def test_missing_transcript_file_is_one_clear_error(tmp_path):
    ldc93s1_tree(tmp_path / "src")
    (tmp_path / "src" / "LDC93S1.txt").unlink()
    with pytest.raises(CorpusError, match=r"LDC93S1.txt: not found"):
        import_corpus(importer("ldc93s1"), tmp_path / "src", tmp_path / "out")
