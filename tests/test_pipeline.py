"""Data preparation: conversion, checks, stable splits, and every kind of bad input.

Fixtures are real audio files written into tmp dirs at test time (seeded tones and noise via
soundfile; sox / espeak-ng where a test needs them), so nothing large is committed.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dstorch.config import PipelineConfig
from dstorch.data import Alphabet, read_csvs
from dstorch.pipeline import PrepareError, prepare
from dstorch.pipeline import audio as audio_mod
from dstorch.pipeline.__main__ import main
from dstorch.pipeline.registry import load_registry
from dstorch.pipeline.sources import normalise_text
from dstorch.pipeline.split import allocate

COMMANDS = {"1": "turn on the light", "2": "play music", "3": "stop", "4": "volume up"}
SPEAKERS = [f"{i:032x}" for i in range(1, 7)]


def tone(
    path: Path,
    seconds: float = 1.0,
    rate: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
    seed: int = 0,
    fmt: str | None = None,
) -> Path:
    """A distinct (seeded) tone plus noise, so no two fixtures have the same content."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * (200 + 10 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    data = np.repeat(signal[:, None], channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


def name(speaker: str, command: str, take: int, ext: str = "wav") -> str:
    return f"shapes_{speaker}_2_3_000000_{command}_{take:03d}.{ext}"


def project(root: Path, commands: dict = COMMANDS, speakers: int = 5, takes: int = 1) -> Path:
    """root/commands.csv + original/en/: every speaker says every command `takes` times."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["id,en"] + [f"{k},{v}" for k, v in commands.items()]
    (root / "commands.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    seed = 0
    for speaker in SPEAKERS[:speakers]:
        for command in commands:
            for take in range(1, takes + 1):
                seed += 1
                tone(root / "original" / "en" / name(speaker, command, take), seed=seed)
    return root


def run(root: Path, messages: list | None = None, **overrides):
    config = PipelineConfig(**overrides)
    return prepare(config, root, echo=(messages.append if messages is not None else _quiet))


def _quiet(_: str) -> None:
    pass


def splits(root: Path) -> dict[str, str]:
    return {
        s: e.split
        for s, e in load_registry(root / "data" / "registry.csv").items()
        if e.status == "ok"
    }


def snapshot(folder: Path) -> dict:
    return {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- the happy path -----------------------------------------------------------------------


def test_writes_deepspeech_csvs_alphabet_and_registry(tmp_path):
    root = project(tmp_path)
    result = run(root)
    data = root / "data"
    alphabet = Alphabet.from_file(data / "alphabet.txt")
    assert alphabet.labels[0] == " " and set("turnoheligpaysvm") <= set(alphabet.labels)
    samples = read_csvs(
        ",".join(str(data / f"{s}.csv") for s in ("train", "dev", "test")), alphabet
    )
    assert len(samples) == 20
    for split in ("train", "dev", "test"):
        text = (data / f"{split}.csv").read_text(encoding="utf-8")
        assert text.startswith("wav_filename,wav_filesize,transcript\n")
        rows = read_rows(data / f"{split}.csv")
        sizes = [int(r["wav_filesize"]) for r in rows]
        assert sizes == sorted(sizes) and rows
        for row in rows:
            assert not Path(row["wav_filename"]).is_absolute()
            assert (data / row["wav_filename"]).stat().st_size == int(row["wav_filesize"])
    assert {r["transcript"] for r in read_rows(data / "train.csv")} == set(COMMANDS.values())
    assert result.tally.splits == {"train": 14, "dev": 3, "test": 3}
    assert not list(data.rglob(".*"))  # no temp files left behind


def test_split_is_deterministic_and_seeded(tmp_path):
    first, second = project(tmp_path / "a"), project(tmp_path / "b")
    run(first), run(second)
    strip = lambda d: {Path(k).name: v for k, v in d.items()}  # noqa: E731
    assert strip(splits(first)) == strip(splits(second))
    other = project(tmp_path / "c", speakers=6)
    run(other)
    seeds = [strip(splits(other))]
    for seed in (1, 2, 3):
        shutil.rmtree(other / "data")
        run(other, split_seed=seed)
        seeds.append(strip(splits(other)))
    assert len({tuple(sorted(s.items())) for s in seeds}) > 1


def test_rerun_keeps_splits_and_skips_unchanged(tmp_path):
    root = project(tmp_path)
    run(root)
    before, wav_times = splits(root), snapshot(root / "data" / "en")
    result = run(root, new_data=True)
    assert splits(root) == before
    assert result.tally.unchanged == 20 and result.tally.copied == 0
    assert snapshot(root / "data" / "en") == wav_times  # not rewritten


def test_new_data_adds_files_and_keeps_existing_splits(tmp_path):
    root = project(tmp_path)
    run(root)
    before = splits(root)
    for command in COMMANDS:
        tone(root / "original/en" / name(SPEAKERS[5], command, 1), seed=100 + int(command))
    messages: list[str] = []
    result = run(root, messages)  # NEW_DATA=no: data/ stays as it is
    assert splits(root) == before and any("NEW_DATA=yes" in m for m in messages)
    result = run(root, new_data=True)
    after = splits(root)
    assert {k: after[k] for k in before} == before and len(after) == 24
    assert result.tally.unchanged == 20 and result.tally.copied == 4
    assert sum(r["transcript"] == "stop" for r in read_rows(root / "data/train.csv")) >= 1


def test_changed_file_keeps_split_removed_file_is_dropped(tmp_path):
    root = project(tmp_path)
    run(root)
    before = splits(root)
    changed, removed = sorted(before)[:2]
    tone(root / changed, seconds=1.2, seed=999)
    (root / removed).unlink()
    messages: list[str] = []
    result = run(root, messages, new_data=True)
    after = splits(root)
    assert after[changed] == before[changed] and removed not in after
    assert result.tally.copied == 1 and any("dropped" in m for m in messages)
    assert not (root / "data" / "en" / Path(removed).name).exists()


def test_wav_replaced_by_flac_of_the_same_name(tmp_path):
    root = project(tmp_path, speakers=2)
    run(root)
    old = root / "original/en" / name(SPEAKERS[0], "1", 1)
    old.unlink()
    tone(old.with_suffix(".flac"), seed=123)
    run(root, new_data=True)
    assert splits(root)[old.with_suffix(".flac").relative_to(root).as_posix()]
    assert (root / "data/en" / old.name).exists()


def test_original_is_never_written(tmp_path):
    root = project(tmp_path, speakers=2)
    tone(root / "original/en" / name("ab", "1", 7), rate=44100, channels=2, seed=77)
    (root / "original/en/notes.wav").write_bytes(b"not audio")
    before = snapshot(root / "original")
    run(root)
    run(root, new_data=True)
    assert snapshot(root / "original") == before


def test_converts_other_formats_and_says_so(tmp_path):
    root = project(tmp_path, speakers=2)
    folder = root / "original/en"
    tone(folder / name("cd", "1", 1, "flac"), rate=44100, channels=2, subtype="PCM_24", seed=50)
    tone(folder / name("cd", "2", 1, "ogg"), rate=8000, subtype="VORBIS", seed=51)
    tone(folder / name("cd", "3", 1), rate=22050, subtype="FLOAT", seed=52)
    messages: list[str] = []
    result = run(root, messages)
    assert result.tally.converted == 3
    converted = [m for m in messages if "converted from" in m]
    assert len(converted) == 3 and "44100 Hz stereo 24-bit FLAC" in " ".join(converted)
    for ext in ("flac", "ogg"):
        out = root / "data/en" / name("cd", "1" if ext == "flac" else "2", 1)
        with wave.open(str(out)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert abs(w.getnframes() - 16000) < 200  # 1 s in, 1 s out


def test_same_name_different_formats_do_not_collide(tmp_path):
    root = project(tmp_path, speakers=2)
    tone(root / "original/en" / name("ef", "1", 1), seed=60)
    tone(root / "original/en" / name("ef", "1", 1, "flac"), seed=61)
    run(root)
    assert (root / "data/en" / name("ef", "1", 1)).exists()
    assert (root / "data/en" / (name("ef", "1", 1, "flac") + ".wav")).exists()


@pytest.mark.skipif(not shutil.which("sox"), reason="needs sox")
def test_sox_reads_what_libsndfile_cannot(tmp_path):
    root = project(tmp_path, speakers=2)
    src = root / "original/en" / name("gh", "1", 1, "cvsd")
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", str(src), "synth", "1", "sine", "300"], check=True
    )
    messages: list[str] = []
    run(root, messages)
    assert any("via sox" in m for m in messages)
    assert splits(root)[src.relative_to(root).as_posix()]


def test_pydub_is_the_last_resort(tmp_path, monkeypatch):
    pytest.importorskip("pydub")

    def fail(src, dst):
        raise RuntimeError("unavailable")

    monkeypatch.setattr(audio_mod, "_with_soundfile", fail)
    monkeypatch.setattr(audio_mod, "_with_sox", fail)
    src = tone(tmp_path / "in.wav", rate=44100, channels=2, seed=3)
    result = audio_mod.convert(src, tmp_path / "out.wav")
    assert result.converted and "pydub" in result.was
    assert abs(result.samples - 16000) < 10


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


# --- bad input: per-file problems are skipped and reported -------------------------------


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


NO_Z = str(Path(__file__).parent / "fixtures/pipeline/alphabet_no_z.txt")
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


def test_filename_pattern_with_speaker(tmp_path):
    root = project(tmp_path, speakers=0)
    for i, (speaker, command) in enumerate([(s, c) for s in "ab" for c in COMMANDS]):
        tone(root / "original/en" / f"{speaker}-cmd{command}-take1.wav", seed=i)
    tone(root / "original/en" / "unrelated.wav", seed=99)
    result = run(root, filename_pattern=r"^(?P<speaker>\w+)-cmd(?P<id>\d+)-")
    entries = {Path(e.source).name: e for e in result.entries}
    assert entries["b-cmd3-take1.wav"].id == "3" and entries["b-cmd3-take1.wav"].speaker == "b"
    assert entries["unrelated.wav"].status == "no_id"


def test_holdout_speakers_only_in_test(tmp_path):
    root = project(tmp_path, speakers=5)
    run(root, holdout_speakers=f"{SPEAKERS[4]}, nobody")
    for source, split in splits(root).items():
        assert (split == "test") if SPEAKERS[4] in source else True
    train = {r["transcript"] for r in read_rows(root / "data/train.csv")}
    assert train == set(COMMANDS.values())


def test_few_takes_stay_in_train_and_are_reported(tmp_path):
    root = project(tmp_path, speakers=2)  # 2 takes per command
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("5,open the door\n")
    tone(root / "original/en" / name(SPEAKERS[0], "5", 1), seed=80)
    messages: list[str] = []
    result = run(root, messages)
    assert "command 5 has 1 take: train only" in messages
    per_command: dict[str, list[str]] = {}
    for entry in result.entries:
        per_command.setdefault(entry.id, []).append(entry.split)
    assert all("train" in s for s in per_command.values())
    assert result.tally.splits["dev"] >= 1 and result.tally.splits["test"] >= 1


def test_allocate_is_proportional_and_capped():
    sizes = {str(c): 10 for c in range(6)}
    counts = allocate(sizes, 0.15, {c: 9 for c in sizes}, seed=1)
    assert sum(counts.values()) == 9 and set(counts.values()) == {1, 2}
    assert allocate({"a": 1, "b": 1}, 0.5, {"a": 0, "b": 0}, 1) == {"a": 0, "b": 0}


# --- fatal problems: PrepareError with one line, never a traceback -----------------------


def _csv(text: str, encoding: str = "utf-8"):
    return lambda root: (root / "commands.csv").write_bytes(text.encode(encoding))


def _fr(root: Path) -> None:
    shutil.copytree(root / "original/en", root / "original/fr")


FATAL = {  # expected message part: (setup, config overrides)
    "not UTF-8": (_csv("id,en\n1,caf\u00e9\n", "latin-1"), {}),
    "no `fr` column": (_fr, {"language": "fr"}),
    "different transcripts": (_csv("id,en\n1,stop\n2,go\n1,halt\n"), {}),
    "commands.csv: not found": (lambda root: (root / "commands.csv").unlink(), {}),
    "no such folder": (lambda root: shutil.rmtree(root / "original"), {}),
    "not a valid regex": (None, {"filename_pattern": "(?P<id>"}),
    "no (?P<id>...) group": (None, {"filename_pattern": r"(\d+)"}),
    "alphabet file not found": (None, {"alphabet": "missing.txt"}),
    "no usable recordings": (_csv("id,en\n7,seven\n"), {}),
    "sum to less than 1": (None, {"dev_fraction": 0.5, "test_fraction": 0.5}),
}


@pytest.mark.parametrize("expected", sorted(FATAL))
def test_fatal_problems_raise_one_line(tmp_path, expected):
    root = project(tmp_path, speakers=2)
    setup, overrides = FATAL[expected]
    if setup:
        setup(root)
    with pytest.raises(PrepareError) as error:
        run(root, **overrides)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_identical_duplicate_rows_are_only_a_note(tmp_path):
    root = project(tmp_path, speakers=2)
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("3,stop\n")
    messages: list[str] = []
    run(root, messages)
    assert any("id 3 repeats line" in m for m in messages)


def test_cli_prints_one_line_error(tmp_path, capsys):
    root = project(tmp_path, speakers=2)
    (root / "commands.csv").write_bytes(b"id,en\n1,\xe9t\xe9\n")
    (root / "configuration.env").write_text("LANGUAGE=en\n")
    assert main(["--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "line 2" in err


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


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"
)
def test_example_data_is_deterministic_speech(tmp_path):
    from dstorch.pipeline.example_data import make_example_data

    commands = {"1": "stop", "2": "play music"}
    first = make_example_data(tmp_path / "a", commands=commands, voices=3)
    second = make_example_data(tmp_path / "b", commands=commands, voices=3)
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    assert len({p.name.split("_")[1] for p in first}) == 3  # one speaker hash per voice
    result = run(tmp_path / "a")
    assert result.tally.splits["train"] >= 2 and not result.tally.problems


# --- the language-model corpus --------------------------------------------------------------


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
