"""The language-model corpus: every command, the extra text, what the alphabet cannot spell."""

from __future__ import annotations

import pytest
from pipeline_helpers import COMMANDS, NO_Z, project, run

from dstorch.prepare import PrepareError


def test_lm_corpus_has_every_command_and_the_extra_text(tmp_path):
    commands = {**COMMANDS, "5": "What's the Time?", "6": "  "}  # 5 has no recordings
    root = project(tmp_path, commands={k: v for k, v in commands.items()}, speakers=3)
    for f in (root / "original/en").glob("*_5_*.wav"):
        f.unlink()
    (root / "extra.txt").write_text(
        "Stop the MUSIC!\n\n50 percent\nplay music, please\n", encoding="utf-8"
    )
    messages: list[str] = []
    result = run(root, messages, lm_text="extra.txt")
    lines = (root / "data/lm_corpus.txt").read_text(encoding="utf-8").splitlines()
    assert result.lm_corpus == root / "data/lm_corpus.txt"
    assert lines == [*COMMANDS.values(), "what's the time", "stop the music", "play music please"]
    assert any("LM_TEXT=extra.txt: 1 line(s) skipped" in m and "line 3" in m for m in messages)


def test_lm_corpus_leaves_out_commands_the_alphabet_cannot_spell(tmp_path):
    root = project(tmp_path, speakers=3)
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("5,zoom in\n")
    messages: list[str] = []
    run(root, messages, alphabet=NO_Z)
    lines = (root / "data/lm_corpus.txt").read_text(encoding="utf-8").splitlines()
    assert lines == list(COMMANDS.values())
    assert any("commands 5 left out of the language model" in m for m in messages)


def test_lm_text_errors_are_one_line(tmp_path):
    root = project(tmp_path, speakers=3)
    with pytest.raises(PrepareError, match="LM_TEXT=nope.txt: not found"):
        run(root, lm_text="nope.txt")
    (root / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(PrepareError, match="not UTF-8 \\(line 1\\)"):
        run(root, lm_text="latin1.txt")


def test_bytes_output_mode_keeps_any_script(tmp_path):
    """With BYTES_OUTPUT_MODE every character is spelt in bytes: no line is skipped."""
    from dstorch.alphabet import Alphabet, BytesAlphabet
    from dstorch.prepare.lm_corpus import corpus_lines

    extra = ["Άνοιξε το φως", "开灯", "stop"]
    lines, notes = corpus_lines({"1": "stop"}, set(), extra, BytesAlphabet())
    assert lines == ["stop", "άνοιξε το φως", "开灯", "stop"] and not notes
    lines, notes = corpus_lines({"1": "stop"}, set(), extra, Alphabet(list(" opst")))
    assert lines == ["stop", "stop"] and "2 line(s) skipped" in notes[0]
