"""Checks before the job starts: `make run` says what the detached job would only have
found after it returned 0."""

from __future__ import annotations

import pytest
from runner_helpers import ROOT, clear_config_environment, load, make_project

from dstorch.cli import main
from dstorch.runner import LocalRunner
from dstorch.runner.base import set_env_value
from dstorch.runner.state import RunStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    clear_config_environment(monkeypatch)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the job runs this checkout's dstorch
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def run(root, capsys, verb: str = "run") -> tuple[int, str]:
    code = main([verb, "--config", str(root / "configuration.env")])
    return code, capsys.readouterr().err


def test_an_augment_the_trainer_cannot_parse_stops_make_run(tmp_path, monkeypatch, capsys):
    root = make_project(tmp_path, RUNNER="local", AUGMENT="garbage[")
    monkeypatch.chdir(root)
    for verb in ("run", "config"):
        code, err = run(root, capsys, verb)
        assert code == 2 and err.splitlines()[-1] + "\n" == (
            "error: AUGMENT: 'garbage[': bad syntax; use name[key=value,...], "
            "e.g. reverb[p=0.1,delay=20]\n"
        )
    assert not (root / "runs" / "commands" / "job.log").exists()  # no job was started
    assert not LocalRunner(load(root), root).alive()


@pytest.mark.slow
def test_a_new_letter_stops_make_run_before_the_checkpoints_refuse_it(
    tmp_path, monkeypatch, capsys
):
    """A transcript with a new character, then `make rebuild NEW_DATA=yes`: the job once
    failed on its checkpoint at setup, after `make run` had returned 0."""
    root = make_project(tmp_path, RUNNER="local", MAX_EPOCH="1", LM_TUNE_TRIALS="0")
    monkeypatch.chdir(root)
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0, runner.log_file.read_text()
    alphabet = root / "data" / "alphabet.txt"
    alphabet.write_text(alphabet.read_text() + "\u00e9\n", encoding="utf-8")
    set_env_value(root / "configuration.env", "MAX_EPOCH", "2")
    code, err = run(root, capsys)
    last = err.splitlines()[-1]
    assert code == 2 and last.startswith(f"error: {alphabet} changed since the checkpoints")
    assert "LOAD_FROM_CHECKPOINT=no" in last
    assert not runner.alive() and runner.read_state().status is RunStatus.FINISHED
    set_env_value(root / "configuration.env", "LOAD_FROM_CHECKPOINT", "no")
    assert run(root, capsys)[0] == 0  # starting fresh is allowed
    assert LocalRunner(load(root), root).follow_log() == 0
