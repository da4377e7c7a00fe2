"""A folder of audio + same-named .txt files; train/dev/test subfolders become splits."""

import csv

from importer_helpers import speak

from dstorch.importers import importer
from dstorch.importers.run import import_corpus, role_files


def test_wav_and_txt_pairs_with_split_folders(tmp_path):
    src = tmp_path / "src"
    for rel, text in [("train/a/one", "Lights ON!"), ("train/two", "open"), ("dev/x", "close")]:
        speak(text, src / f"{rel}.wav", 22050)
        (src / f"{rel}.txt").write_text(text + "\n")
    speak("orphan", src / "train" / "orphan.wav", 22050)  # no .txt: rejected
    out = tmp_path / "out"
    summary = import_corpus(importer("folder"), src, out, workers=1)
    with open(out / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["wav_filename"], r["transcript"]) for r in rows] == [
        ("clips/train/a/one.wav", "lights on"),
        ("clips/train/two.wav", "open"),
    ]
    assert summary.rejects == {"no_transcript": 1}
    assert role_files(out, "dev") == str(out / "dev.csv") and role_files(out, "test") == ""


def test_files_outside_split_folders_go_to_all_which_trains(tmp_path):
    src = tmp_path / "src"
    speak("hello", src / "spk1" / "hello.wav", 16000)
    (src / "spk1" / "hello.txt").write_text("hello")
    out = tmp_path / "out"
    import_corpus(importer("folder"), src, out, workers=1)
    assert role_files(out, "train") == str(out / "all.csv")
