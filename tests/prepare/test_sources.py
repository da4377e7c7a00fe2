"""Sources: transcripts, commands.csv, file-name patterns, the alphabet."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import COMMANDS, project, read_rows, run, tone

from dstorch.alphabet import Alphabet
from dstorch.prepare.sources import normalise_text


def test_transcripts_are_normalised():
    assert normalise_text("  Turn ON,the   Light! ", {"'"}) == "turn on the light"
    assert normalise_text("What\u2019s  up?", {"'"}) == "what's up"
    assert normalise_text("cafe\u0301", {"'"}) == "caf\u00e9"  # NFC
    assert normalise_text("what's", {"a"}) == "whats"  # apostrophe not in the alphabet


def test_commands_csv_with_bom_semicolons_and_padded_ids(tmp_path):
    root = project(tmp_path, speakers=2)
    text = "\ufeffID;EN\n01; Turn ON the light \n2;play music\n3;stop\n4;volume up\n"
    (root / "commands.csv").write_text(text, encoding="utf-8")
    result = run(root)
    assert result.tally.splits["train"] >= 4
    transcripts = {r["transcript"] for r in read_rows(root / "data/train.csv")}
    assert "turn on the light" in transcripts


def test_filename_pattern_with_speaker(tmp_path):
    root = project(tmp_path, speakers=0)
    for i, (speaker, command) in enumerate([(s, c) for s in "ab" for c in COMMANDS]):
        tone(root / "original/en" / f"{speaker}-cmd{command}-take1.wav", seed=i)
    tone(root / "original/en" / "unrelated.wav", seed=99)
    result = run(root, filename_pattern=r"^(?P<speaker>\w+)-cmd(?P<id>\d+)-")
    entries = {Path(e.source).name: e for e in result.entries}
    assert entries["b-cmd3-take1.wav"].id == "3" and entries["b-cmd3-take1.wav"].speaker == "b"
    assert entries["unrelated.wav"].status == "no_id"


def test_identical_duplicate_rows_are_only_a_note(tmp_path):
    root = project(tmp_path, speakers=2)
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("3,stop\n")
    messages: list[str] = []
    run(root, messages)
    assert any("id 3 repeats line" in m for m in messages)


def test_alphabet_grows_without_reordering(tmp_path):
    root = project(tmp_path, speakers=2)
    run(root)
    before = Alphabet.from_file(root / "data/alphabet.txt").labels
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("5,zoom\n")
    messages: list[str] = []
    run(root, messages, new_data=True)
    after = Alphabet.from_file(root / "data/alphabet.txt").labels
    assert after == before + ["z"]
    assert any("LOAD_FROM_CHECKPOINT=no" in m for m in messages)
