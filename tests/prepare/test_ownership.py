"""Which DATA_DIR prepare writes into and `make clean` empties (dstorch.prepare.ownership):
only folders dstorch made, and of them only what prepare wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from pipeline_helpers import project, run

from dstorch.prepare import PrepareError
from dstorch.prepare.ownership import MARKER, claim, empty, is_claimed
from dstorch.runner.base import set_env_value


def test_prepare_refuses_a_folder_of_yours_and_writes_nothing_there(tmp_path):
    root = project(tmp_path / "p", speakers=2)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("precious")
    with pytest.raises(PrepareError) as error:
        run(root, data_dir=str(victim))
    message = str(error.value)
    assert message.startswith(f"DATA_DIR={victim} already holds files dstorch did not write")
    assert "thesis.tex" in message and "give DATA_DIR another folder" in message
    assert [p.name for p in victim.iterdir()] == ["thesis.tex"]


def test_clean_empties_only_what_prepare_wrote(tmp_path):
    root = project(tmp_path, speakers=2)
    run(root)
    data = root / "data"
    assert (data / MARKER).is_file()
    (data / "notes.txt").write_text("mine")  # added later by the user
    (data / "noise").mkdir()
    (data / "noise" / "fan.wav").write_bytes(b"mine too")
    assert empty(data, "en") == ["noise/fan.wav", "notes.txt"]
    assert sorted(p.name for p in data.iterdir()) == [MARKER, "noise", "notes.txt"]
    shutil.rmtree(data / "noise")
    (data / "notes.txt").unlink()
    assert empty(data, "en") == [] and not data.exists()


def test_a_data_dir_of_an_earlier_dstorch_is_adopted(tmp_path):
    root = project(tmp_path, speakers=2)
    run(root)
    (root / "data" / MARKER).unlink()  # prepared before the marker existed
    assert is_claimed(root / "data")  # make clean may empty it
    claim(root / "data")
    assert (root / "data" / MARKER).is_file()
    run(root)  # and prepare goes on there


def test_make_clean_keeps_a_folder_dstorch_did_not_create(tmp_path):
    """The CLI end to end: `dstorch clean` with DATA_DIR a user's folder."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("precious")
    config = tmp_path / "configuration.env"
    config.write_text((ROOT / "configuration.env").read_text())
    for key, value in {"DATA_DIR": str(victim), "RUNNER": "local"}.items():
        set_env_value(config, key, value)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = {}
    for verb in ("prepare", "clean"):
        done[verb] = subprocess.run(
            [sys.executable, "-m", "dstorch", verb, "--config", str(config)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
        )
        assert "Traceback" not in done[verb].stdout + done[verb].stderr
        assert [p.name for p in victim.iterdir()] == ["thesis.tex"], verb
    assert done["prepare"].returncode == 2
    assert done["prepare"].stderr.startswith(f"error: DATA_DIR={victim} already holds files")
    assert done["clean"].returncode == 0 and f"kept DATA_DIR={victim}/" in done["clean"].stdout


def test_clean_empties_the_speech_sets_too(tmp_path):
    """Speech that is no command (data/speech/, lm_garbage.txt) is prepare's to remove."""
    root = project(tmp_path, commands={"1": "stop"}, speakers=2)
    run(root, synthetic_voices="espeak-ng:en-us+f3,espeak-ng:en-gb", general_sentences=2)
    data = root / "data"
    assert (data / "speech" / "train.csv").is_file() and (data / "lm_garbage.txt").is_file()
    assert empty(data, "en") == [] and not data.exists()
