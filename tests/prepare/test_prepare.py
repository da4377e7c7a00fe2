"""Data preparation end to end: the outputs, the original left alone, fatal problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import FIXTURES_DIR, ROOT
from pipeline_helpers import COMMANDS, SPEAKERS, name, project, read_rows, run, snapshot, tone

from dstorch.alphabet import Alphabet
from dstorch.cli import main as cli_main
from dstorch.entry import EXIT_USER_ERROR
from dstorch.prepare import PrepareError
from dstorch.prepare.registry import load_registry
from dstorch.training.data import read_csvs

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
    # Five speakers: dev and test each hold one whole speaker (4 takes), unseen in train.
    assert result.tally.splits == {"train": 12, "dev": 4, "test": 4}
    assert [p.name for p in data.rglob(".*")] == [".dstorch-data"]  # no temp files left


def test_original_is_never_written(tmp_path):
    root = project(tmp_path, speakers=2)
    tone(root / "original/en" / name("ab", "1", 7), rate=44100, channels=2, seed=77)
    (root / "original/en/notes.wav").write_bytes(b"not audio")
    before = snapshot(root / "original")
    run(root)
    run(root, new_data=True)
    assert snapshot(root / "original") == before


def test_same_name_different_formats_do_not_collide(tmp_path):
    root = project(tmp_path, speakers=2)
    tone(root / "original/en" / name("ef", "1", 1), seed=60)
    tone(root / "original/en" / name("ef", "1", 1, "flac"), seed=61)
    run(root)
    assert (root / "data/en" / name("ef", "1", 1)).exists()
    assert (root / "data/en" / (name("ef", "1", 1, "flac") + ".wav")).exists()


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


def test_cli_prints_one_line_error(tmp_path, capsys, monkeypatch):
    root = project(tmp_path, speakers=2)
    (root / "commands.csv").write_bytes(b"id,en\n1,\xe9t\xe9\n")
    (root / "configuration.env").write_text((ROOT / "configuration.env").read_text())
    monkeypatch.chdir(root)  # `make prepare` runs `dstorch prepare` in the project folder
    assert cli_main(["prepare", "--config", "configuration.env"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "line 2" in err


# --- a full disk or a read-only data folder: one line, no temp files ------------------------


def _configured_project(tmp_path: Path) -> Path:
    import shutil

    from dstorch.runner.base import set_env_value

    root = project(tmp_path / "p", speakers=3)
    shutil.copy(ROOT / "configuration.env", root / "configuration.env")
    set_env_value(root / "configuration.env", "LANGUAGE", "en")
    set_env_value(root / "configuration.env", "DATA_DIR", "data")
    return root


@pytest.mark.parametrize("fault", ["ENOSPC", "EACCES"])
def test_storage_faults_are_one_line(tmp_path, fault):
    from fault_helpers import dstorch, inspect_on_full_disk, without_write_permission

    root = _configured_project(tmp_path)
    data = root / "data"
    argv = dstorch("prepare", "--config", str(root / "configuration.env"))
    if fault == "ENOSPC":
        seen = inspect_on_full_disk(
            data, 16, ["sh", "-c", 'cd "$0" && exec "$@"', str(root), *argv]
        )
        rc, stderr, left = seen["rc"], seen["stderr"], seen["files"]
        reason = "no space left on the device"
    else:
        result = without_write_permission(data, argv, cwd=root)
        rc, stderr, left = result.returncode, result.stderr, [p.name for p in data.iterdir()]
        reason = "permission denied"
    assert rc == 2 and "Traceback" not in stderr, stderr
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("error: cannot write data") and reason in message, message
    assert not [name for name in left if name.startswith(".dstorch-tmp")]


# --- VAD_TRIM -----------------------------------------------------------------------------


def test_vad_trim_shortens_the_copy_only_and_follows_the_key(tmp_path):
    root = project(tmp_path)
    speech, rate = sf.read(str(FIXTURES_DIR / "clips" / "stop_en_m1.wav"), dtype="float64")
    noise = 0.003 * np.random.default_rng(8).standard_normal(4 * rate)  # a quiet room
    padded = np.concatenate([noise[: 2 * rate], speech, noise[2 * rate :]])
    source = root / "original/en" / name(SPEAKERS[0], "3", 1)
    sf.write(str(source), padded, rate, subtype="PCM_16")
    before = snapshot(root / "original")
    copy = root / "data/en" / source.name
    run(root, vad_trim=True)
    assert 0.3 * rate < sf.info(str(copy)).frames < len(padded) - 2 * rate  # most padding goes
    entry = load_registry(root / "data/registry.csv")[f"original/en/{source.name}"]
    assert entry.trim == "vad" and entry.duration == sf.info(str(copy)).duration
    assert snapshot(root / "original") == before
    run(root, vad_trim=False)  # turning the key off converts the copies again, whole
    assert sf.info(str(copy)).frames == len(padded)


# --- names and links ----------------------------------------------------------------------


def test_a_symlink_to_a_recording_elsewhere_is_kept_under_its_name(tmp_path):
    """Resolving the link once keyed it outside original/: no split held it, yet the
    summary counted it as copied."""
    root = project(tmp_path / "p", speakers=3)
    outside = tone(tmp_path / "elsewhere" / "take.wav", seed=99)
    link = root / "original/en" / name(SPEAKERS[0], "1", 2)
    link.symlink_to(outside)
    broken = root / "original/en" / name(SPEAKERS[1], "1", 2)
    broken.symlink_to(tmp_path / "elsewhere" / "gone.wav")
    messages: list[str] = []
    result = run(root, messages)
    gone = f"a symlink to {tmp_path}/elsewhere/gone.wav, which is missing; fix or remove it"
    assert f"original/en/{broken.name}: {gone}" in messages
    entry = load_registry(root / "data/registry.csv")[f"original/en/{link.name}"]
    assert entry.status == "ok" and entry.split in ("train", "dev", "test")
    listed = [
        r["wav_filename"]
        for s in ("train", "dev", "test")
        for r in read_rows(root / f"data/{s}.csv")
    ]
    assert f"en/{link.name}" in listed
    assert result.tally.copied == result.tally.splits.total() == 13
    assert link.is_symlink() and (root / "data/en" / link.name).read_bytes() == outside.read_bytes()


def test_long_file_names_are_prepared_or_skipped_one_line_each(tmp_path):
    """228 characters once aborted prepare (ENAMETOOLONG on the temp name)."""
    root = project(tmp_path, speakers=3)
    long = "shapes_" + "x" * (228 - len("shapes__2_3_0_1_009.wav")) + "_2_3_0_1_009.wav"
    tone(root / "original/en" / long, seed=70)
    stem = "shapes_" + "y" * 230 + "_2_3_0_2_009"  # .flac beside .wav: the copy needs .flac.wav
    tone(root / "original/en" / f"{stem}.wav", seed=71)
    tone(root / "original/en" / f"{stem}.flac", seed=72)
    messages: list[str] = []
    result = run(root, messages)
    registry = load_registry(root / "data/registry.csv")
    assert len(long) == 228 and registry[f"original/en/{long}"].status == "ok"
    assert registry[f"original/en/{stem}.flac"].status == "name_too_long"
    assert [m for m in messages if m.startswith(f"original/en/{stem}.flac: file name too long")]
    assert result.tally.splits.total() == 14 and result.tally.problems == {"name_too_long": 1}


def test_transcript_characters_no_one_says_are_warned_about(tmp_path):
    commands = {**COMMANDS, "5": "go <left> = `up` \U0001f600", "6": "rock'n roll 2"}
    root = project(tmp_path, commands=commands, speakers=3)
    messages: list[str] = []
    run(root, messages)
    warned = [m for m in messages if m.startswith("warning: commands.csv: id")]
    assert len(warned) == 1 and warned[0].startswith("warning: commands.csv: id 5 ")
    for ch in "<>=`\U0001f600":
        assert repr(ch) in warned[0]


def test_holdout_speakers_naming_nobody_is_one_line(tmp_path):
    root = project(tmp_path, speakers=3)
    with pytest.raises(PrepareError, match=r"HOLDOUT_SPEAKERS=nobody: nobody is no speaker") as e:
        run(root, holdout_speakers="nobody")
    assert SPEAKERS[0] in str(e.value) and "\n" not in str(e.value)
    assert run(root, holdout_speakers=SPEAKERS[0]).tally.splits["test"] >= 4
