"""LibriSpeech: FLAC + trans.txt split folders -> one CSV per split, train/dev/test roles."""

import csv

import pytest
from importer_helpers import librispeech_tree

from dstorch.alphabet import Alphabet
from dstorch.importers import CorpusError, importer
from dstorch.importers.run import import_corpus, role_files
from dstorch.training.data import read_csvs
from dstorch.wav import is_target_format


def test_each_split_becomes_a_csv_of_16k_wavs(tmp_path):
    src = tmp_path / "LibriSpeech"
    expected = librispeech_tree(src, {"train-clean-100": 3, "dev-clean": 2, "test-clean": 1})
    out = tmp_path / "out"
    summary = import_corpus(importer("librispeech"), src, out, workers=2)
    assert dict(summary.clips) == {"train-clean-100": 3, "dev-clean": 2, "test-clean": 1}
    for split, clips in expected.items():
        with open(out / f"{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["transcript"] for r in rows] == [text for _, text in clips]
        for row, (utterance, _) in zip(rows, clips, strict=True):
            wav = out / row["wav_filename"]
            assert wav.name == f"{utterance}.wav" and is_target_format(wav)
            assert int(row["wav_filesize"]) == wav.stat().st_size
    assert role_files(out, "train") == str(out / "train-clean-100.csv")
    assert role_files(out, "dev") == str(out / "dev-clean.csv")
    assert role_files(out, "test") == str(out / "test-clean.csv")
    # the trainer reads them, several at once, with the import's alphabet
    alphabet = Alphabet.from_file(out / "alphabet.txt")
    both = read_csvs(f"{out / 'train-clean-100.csv'},{out / 'dev-clean.csv'}", alphabet)
    assert len(both) == 5 and [s.index for s in both] == list(range(5))


def test_a_single_split_folder_is_named_after_itself(tmp_path):
    librispeech_tree(tmp_path / "src", {"dev-other": 2})
    out = tmp_path / "out"
    import_corpus(importer("librispeech"), tmp_path / "src" / "dev-other", out, workers=1)
    assert (out / "dev-other.csv").is_file()
    assert role_files(out, "dev") == str(out / "dev-other.csv")


def test_a_line_without_transcript_is_rejected_not_fatal(tmp_path):
    src = tmp_path / "src"
    librispeech_tree(src, {"train-clean-100": 2})
    listing = next(src.rglob("*.trans.txt"))
    listing.write_text(listing.read_text() + "100-2000-0009\n")
    summary = import_corpus(importer("librispeech"), src, tmp_path / "out", workers=1)
    assert summary.clips["train-clean-100"] == 2 and summary.rejects == {"bad_row": 1}


def test_not_a_librispeech_folder_is_one_clear_error(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(CorpusError, match=r"no \*\.trans\.txt files"):
        import_corpus(importer("librispeech"), tmp_path / "src", tmp_path / "out")
