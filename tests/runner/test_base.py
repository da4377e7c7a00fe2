"""Runner configuration plumbing: configuration.env, the job's environment, status lines,
choosing a runner and its one-line errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from config_helpers import shipped_config
from runner_helpers import clear_config_environment, load, make_project

from dstorch.cli import main
from dstorch.config import PipelineConfig
from dstorch.datafiles import SPEECH_TRAIN, TRAIN_CSV
from dstorch.fs import files_digest
from dstorch.runner import LocalRunner, RunnerError, select_runner
from dstorch.runner.base import format_status, job_environment, set_env_value, started_with
from dstorch.runner.state import RunState, RunStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the project's configuration.env counts, not keys exported by `make`."""
    clear_config_environment(monkeypatch)


def test_set_env_value_keeps_comments_and_is_atomic(tmp_path):
    path = tmp_path / "configuration.env"
    path.write_text("# top\nMAX_EPOCH=40\n# why\nCURRENT_EPOCH=0\nX=1")
    set_env_value(path, "CURRENT_EPOCH", "7")
    set_env_value(path, "NEW_KEY", "yes")
    assert path.read_text() == "# top\nMAX_EPOCH=40\n# why\nCURRENT_EPOCH=7\nX=1\nNEW_KEY=yes\n"
    assert [p.name for p in tmp_path.iterdir()] == ["configuration.env"]


def test_status_keeps_a_symlinked_configuration_a_symlink(tmp_path, monkeypatch, capsys):
    """`make status` records CURRENT_EPOCH; it once replaced the link with a plain copy."""
    root = make_project(tmp_path / "project", RUNNER="local")
    kept = tmp_path / "dotfiles" / "dstorch.env"
    kept.parent.mkdir()
    shutil.move(root / "configuration.env", kept)
    (root / "configuration.env").symlink_to(kept)
    state = root / "runs" / "commands" / "checkpoints" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"state": "stopped", "epoch": 3, "max_epoch": 5}')
    monkeypatch.chdir(root)
    assert main(["status", "--config", "configuration.env"]) == 0
    assert "CURRENT_EPOCH=3 recorded" in capsys.readouterr().out
    assert (root / "configuration.env").is_symlink()
    assert "CURRENT_EPOCH=3\n" in kept.read_text()


def test_job_environment_round_trips_every_key():
    config = shipped_config(max_epoch=3, early_stop=True, dev_fraction=0.25, alphabet="")
    env = job_environment(config)
    assert set(env) - {"PYTHONUNBUFFERED"} == {f"DSTORCH_{k}" for k in PipelineConfig.keys()}
    assert env["DSTORCH_EARLY_STOP"] == "yes" and env["DSTORCH_LOAD_FROM_CHECKPOINT"] == "yes"
    assert PipelineConfig.load("/nonexistent.env", environ=env) == config


def test_status_line_wording():
    state = RunState(RunStatus.RUNNING, epoch=3, max_epoch=10, best_dev_loss=12.5)
    assert (
        format_status(state, True, "local") == "running (local), epoch 3/10, best dev loss 12.5000"
    )
    assert format_status(state, False, "docker").startswith("interrupted (docker)")
    assert format_status(None, False, "local") == "not started (local)"
    failed = RunState(RunStatus.FAILED, epoch=0, max_epoch=2, error="DataError: bad")
    assert (
        format_status(failed, False, "local")
        == "failed (local), epoch 0/2, best dev loss n/a, error: DataError: bad"
    )
    # A state.json of a version that knew other words, or none of the figures.
    assert format_status(RunState(), False, "local") == (
        "unknown (local), epoch 0/?, best dev loss n/a"
    )


def test_status_line_gives_unseen_and_seen_voice_accuracy_when_finished():
    state = RunState(RunStatus.FINISHED, epoch=9, max_epoch=9, best_dev_loss=1.0)
    state.unseen_accuracy = 0.875
    line = format_status(state, False, "local")
    assert line.endswith("test accuracy unseen voices 87.5%, seen n/a")
    running = replace(state, status=RunStatus.RUNNING)
    assert "accuracy" not in format_status(running, True, "local")
    unknown = replace(state, unseen_accuracy=None)  # no speakers known: nothing to say
    assert "accuracy" not in format_status(unknown, False, "local")


def test_runner_selection_and_one_line_errors(tmp_path, monkeypatch, capsys):
    make_project(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert isinstance(select_runner(load(tmp_path), tmp_path), LocalRunner)  # RUNNER=auto
    assert "local (RUNNER=auto and no Docker engine answers" in capsys.readouterr().err
    monkeypatch.setenv("DSTORCH_RUNNER", "docker")
    monkeypatch.chdir(tmp_path)  # the CLI works in the project folder, as make runs it
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no Docker engine answers") and "\n" not in err
    assert "scripts/start_dockerd.sh" in err and "RUNNER=local" in err
    monkeypatch.setenv("DSTORCH_RUNNER", "local")
    shutil.rmtree(tmp_path / "data")
    assert main(["run"]) == 2
    assert "prepare the data first" in capsys.readouterr().err


def test_auto_follows_the_runner_that_last_started_the_run(tmp_path, monkeypatch, capsys):
    """`make run RUNNER=local` on a host with Docker, then `make log`: RUNNER=auto must
    reach that run, not an empty container."""
    make_project(tmp_path)
    config = load(tmp_path)
    assert started_with(config, tmp_path) is None
    LocalRunner(config, tmp_path).remember()
    assert started_with(config, tmp_path) == "local"
    assert isinstance(select_runner(config, tmp_path), LocalRunner)
    assert "local (RUNNER=auto and the local runner last started runs/commands)" in (
        capsys.readouterr().err
    )
    (config.run_dir(tmp_path) / "runner").write_text("docker\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(RunnerError, match="no Docker engine answers"):
        select_runner(config, tmp_path)  # the run is in Docker: no silent switch to local
    monkeypatch.setenv("DSTORCH_RUNNER", "local")  # an explicit RUNNER always wins
    assert isinstance(select_runner(load(tmp_path), tmp_path), LocalRunner)
    LocalRunner(config, tmp_path).clean()
    assert started_with(config, tmp_path) is None


def test_a_finished_run_knows_its_data_with_the_speech_sets(tmp_path):
    """The runner digests the files the job was told (speech/train.csv too), so a run
    that finished is not taken for one with new data; a missing speech set is named."""
    root = make_project(tmp_path, GENERAL_SENTENCES="200", MAX_EPOCH="2")
    config = load(root)
    runner = LocalRunner(config, root)
    with pytest.raises(RunnerError, match=f"lacks {SPEECH_TRAIN}; prepare the data first"):
        runner.check_data()
    (root / "data" / SPEECH_TRAIN).parent.mkdir()
    shutil.copy(root / "data" / TRAIN_CSV, root / "data" / SPEECH_TRAIN)
    told = config.train_config(str(root / "data"), "checkpoints", "export")  # as the job
    state = RunState(RunStatus.FINISHED, epoch=2, max_epoch=2)
    state.data = files_digest(told.data_files())
    assert "already finished" in runner.finished_note(state)
    (root / "data" / SPEECH_TRAIN).write_text("changed\n")
    assert runner.finished_note(state) is None  # new data: test and export again
