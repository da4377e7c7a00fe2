"""The local runner's lifecycle with the real `python -m dstorch job`."""

from __future__ import annotations

import os
import subprocess

import pytest
from runner_helpers import (
    EXPORTS,
    REPORT_PLOTS,
    ROOT,
    clear_config_environment,
    env_value,
    load,
    make_project,
    wait_for,
)

from dstorch.runner import LocalRunner, RunnerError
from dstorch.runner.base import set_env_value, started_with
from dstorch.runner.state import RunState, RunStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the project's configuration.env counts, not keys exported by `make`."""
    clear_config_environment(monkeypatch)


def test_local_run_finishes_exports_and_continues_when_max_epoch_is_raised(tmp_path, capfd):
    root = make_project(tmp_path, RUNNER="local")
    runner = LocalRunner(load(root), root)
    assert runner.status_line() == "not started (local)"
    runner.start()
    assert started_with(runner.config, root) == "local"  # RUNNER=auto follows it from now on
    assert runner.follow_log() == 0
    assert runner.status_line().startswith("finished (local), epoch 2/2, best dev loss ")
    copied = {p.name for p in runner.fetch_outputs()}
    assert EXPORTS <= copied <= EXPORTS | REPORT_PLOTS | {"commands.scorer"}
    assert {p.name for p in (root / "models").iterdir()} == copied | {"commands.manifest.json"}
    assert "Epoch 2: dev loss" in capfd.readouterr().out

    set_env_value(root / "configuration.env", "MAX_EPOCH", "3")
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    state = runner.read_state()
    assert state.epoch == 3 and state.status is RunStatus.FINISHED
    assert "Resuming from" in capfd.readouterr().out


def test_local_stop_records_epoch_then_resumes(tmp_path, capfd):
    root = make_project(tmp_path, RUNNER="local", MAX_EPOCH="2000")
    runner = LocalRunner(load(root), root)
    runner.start()
    runner.start()  # a second start must not launch a second job
    assert "already running" in capfd.readouterr().out
    wait_for(lambda: ((runner.read_state() or RunState()).epoch or 0) >= 2, 120, "two epochs")
    runner.stop(grace=60)
    state = runner.read_state()
    assert state.status is RunStatus.STOPPED and not runner.alive()
    assert env_value(root, "CURRENT_EPOCH") == str(state.epoch)
    assert "# Stop after this many epochs" in (root / "configuration.env").read_text()
    assert runner.status_line().startswith(f"stopped (local), epoch {state.epoch}/2000")

    set_env_value(root / "configuration.env", "MAX_EPOCH", str(state.epoch + 1))
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    assert runner.read_state().epoch == state.epoch + 1
    assert "Resuming from" in capfd.readouterr().out

    runner.reset()
    assert runner.read_state() is None and env_value(root, "CURRENT_EPOCH") == "0"
    runner.clean()
    assert not runner.run_dir.exists()


def test_local_stale_pid_and_failed_job(tmp_path):
    root = make_project(tmp_path, RUNNER="local")
    runner = LocalRunner(load(root), root)
    runner.run_dir.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid in (gone.pid, os.getpid()):  # a dead pid, and a live one that is not a job
        runner.pid_file.write_text(f"{pid}\n")
        assert not runner.alive()
    # A transcript outside the alphabet: the job must fail and say so.
    csv = root / "data" / "train.csv"
    csv.write_text(csv.read_text() + "go_en_m1.wav,19444,ÿÿ\n")
    runner.start()
    assert runner.follow_log() != 0
    assert runner.status_line().startswith("failed (local)")
    with pytest.raises(RunnerError, match="^the run failed in .*nothing exported"):
        runner.fetch_outputs()


def test_local_finished_run_is_not_rerun_and_current_epoch_follows(tmp_path, capfd):
    root = make_project(tmp_path, RUNNER="local", MAX_EPOCH="1")
    models = root / "models"
    (models / "base-en").mkdir(parents=True)  # make pretrain's base model, a user's notes
    others = {"base-en/base-en.pbmm": "base model", "notes.txt": "mine", "other.pbmm": "x"}
    for name, text in others.items():
        (models / name).write_text(text)
    (models / "commands.tflite").write_text("stale: this model's, from EXPORT_TFLITE=yes")
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    assert env_value(root, "CURRENT_EPOCH") == "1"  # also after a finish, not only a stop
    copied = {p.name for p in runner.fetch_outputs()}
    assert {n: (models / n).read_text() for n in others} == others, "make export lost files"
    installed = {p.name for p in models.iterdir()} - {"base-en", "notes.txt", "other.pbmm"}
    assert installed == copied | {"commands.manifest.json"}, "a stale file survived"
    log_size = runner.log_file.stat().st_size
    capfd.readouterr()
    LocalRunner(load(root), root).start()
    out = capfd.readouterr().out
    assert "already finished" in out and "raise MAX_EPOCH" in out
    assert runner.log_file.stat().st_size == log_size and not runner.alive()
    test_csv = root / "data" / "test.csv"  # new data (make rebuild NEW_DATA=yes)
    test_csv.write_text("".join(test_csv.read_text().splitlines(keepends=True)[:-1]))
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0 and "Test: WER" in capfd.readouterr().out
    runner.clean()
    assert env_value(root, "CURRENT_EPOCH") == "0"


def test_local_start_says_already_running_while_the_lock_is_held(tmp_path, capfd):
    import sys

    root = make_project(tmp_path, RUNNER="local")
    runner = LocalRunner(load(root), root)
    code = (
        "import os, sys, time\nfrom dstorch.fs import take_lock, write_lock_pid\n"
        "fd = take_lock(sys.argv[1]); write_lock_pid(fd, os.getpid())\n"
        "print('held', flush=True); time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(runner.checkpoint_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        capfd.readouterr()
        runner.start()  # another `make run` (or a job started by hand) holds the run
        assert f"already running (pid {holder.pid})" in capfd.readouterr().out
        assert not runner.pid_file.exists()
    finally:
        holder.kill()
        holder.wait()
