"""Bad input: each per-file problem is skipped and reported in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pipeline_helpers import NO_Z, name, project, run, splits, tone

from dstorch.alphabet import Alphabet
from dstorch.prepare.registry import load_registry


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


BAD_FILES = {
    # code: (file name, how to make it, config overrides, extra commands.csv rows)
    "unreadable": ("shapes_x_2_3_0_1_009.wav", lambda p: _write(p, b"RIFF garbage"), {}, ""),
    "empty": ("shapes_x_2_3_0_1_009.wav", lambda p: _write(p, b""), {}, ""),
    "silent": (
        "shapes_x_2_3_0_1_009.wav",
        lambda p: sf.write(str(p), np.zeros(16000, np.int16), 16000),
        {},
        "",
    ),
    "no_speech": (  # a second of +-1 LSB: trained as a command before
        "shapes_x_2_3_0_1_009.wav",
        lambda p: sf.write(
            str(p), np.random.default_rng(9).integers(-1, 2, 16000).astype(np.int16), 16000
        ),
        {},
        "",
    ),
    "truncated": (  # its message blamed the transcript's length before
        "shapes_x_2_3_0_1_009.wav",
        lambda p: _write(p, tone(p, 1.0, seed=9).read_bytes()[:4000]),
        {},
        "",
    ),
    "too_short": ("shapes_x_2_3_0_3_009.wav", lambda p: tone(p, 0.08, seed=9), {}, ""),
    "too_long": (
        "shapes_x_2_3_0_3_009.wav",
        lambda p: tone(p, 3.0, seed=9),
        {"max_duration": 2.0},
        "",
    ),
    "transcript_too_long": (
        "shapes_x_2_3_0_1_009.wav",
        lambda p: tone(p, 0.15, seed=9),
        {"min_duration": 0.05},
        "",
    ),
    "unknown_id": ("shapes_x_2_3_0_9_001.wav", lambda p: tone(p, seed=9), {}, ""),
    "no_id": ("hello.wav", lambda p: tone(p, seed=9), {}, ""),
    "duplicate_audio": ("zz_copy_1_001.wav", lambda p: tone(p, seed=1), {}, ""),
    "empty_transcript": ("shapes_x_2_3_0_5_001.wav", lambda p: tone(p, seed=9), {}, "5,  \n"),
    "bad_chars": (
        "shapes_x_2_3_0_5_001.wav",
        lambda p: tone(p, seed=9),
        {"alphabet": NO_Z},
        "5,zoom in\n",
    ),
}


@pytest.mark.parametrize("code", sorted(BAD_FILES))
def test_bad_file_is_skipped_with_one_line(tmp_path, code):
    filename, make, overrides, rows = BAD_FILES[code]
    root = project(tmp_path, speakers=3)
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write(rows)
    make(root / "original/en" / filename)
    messages: list[str] = []
    result = run(root, messages, **overrides)
    entry = load_registry(root / "data/registry.csv")[f"original/en/{filename}"]
    assert entry.status == code and entry.split == "" and entry.note
    said = [m for m in messages if filename in m]
    assert len(said) == 1 and "\n" not in said[0] and ";" in said[0]  # names file and fix
    assert result.tally.problems == {code: 1} and code in result.summary()
    assert result.tally.splits.total() == 12  # the good files are all there
    assert result.tally.copied == 12  # and only they count as copied
    assert not (root / "data/en" / filename).exists()
    if code == "bad_chars":
        assert "'z'" in said[0] and Alphabet.from_file(root / "data/alphabet.txt").labels[-1] == "#"


def test_empty_wav_and_skipped_file_recovers_when_fixed(tmp_path):
    root = project(tmp_path, speakers=2)
    bad = root / "original/en" / name("ff", "2", 1)
    sf.write(str(bad), np.zeros((0,), np.int16), 16000)
    assert run(root).tally.problems == {"empty": 1}
    tone(bad, seed=42)
    run(root, new_data=True)
    assert splits(root)[bad.relative_to(root).as_posix()] in ("train", "dev", "test")
