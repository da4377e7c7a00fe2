"""The Docker runner against a real engine and a real image (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from runner_helpers import (
    CLIPS,
    EXPORTS,
    ROOT,
    clear_config_environment,
    env_value,
    load,
    make_project,
    wait_for,
)

from dstorch.augment import cache
from dstorch.augment.environment import warm_for_training
from dstorch.runner import RunnerError
from dstorch.runner.base import set_env_value
from dstorch.runner.state import RunState, RunStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the project's configuration.env counts, not keys exported by `make`."""
    clear_config_environment(monkeypatch)


def docker_engine():
    """A client for a running engine, starting one (root only) when none answers."""
    from dstorch.runner.docker_engine import connect

    try:
        return connect()
    except RunnerError as first:
        if os.geteuid() != 0 or not shutil.which("dockerd"):
            pytest.skip(f"no Docker engine and none can be started here: {first}")
        done = subprocess.run(
            [str(ROOT / "scripts" / "start_dockerd.sh")], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"no Docker engine; scripts/start_dockerd.sh failed: {done.stderr}")
        return connect()


def docker_project(root: Path, base_image: str, prefix: str) -> Path:
    make_project(
        root,
        RUNNER="docker",
        BASE_IMAGE=base_image,
        IMAGE_NAME="dstorch-test-trainer",
        VOLUME_PREFIX=prefix,
        MAX_EPOCH="3000",
        LM_TUNE_TRIALS="3",
    )
    # What `make prepare` writes for the scorer: every command; and the banks of rooms and
    # babble that AUGMENT, the noisy dev set and the noisy test use (the trainer image has no
    # synthesizers).
    (root / "data" / "lm_corpus.txt").write_text("go\nno\nyes\nstop\n")
    warm_for_training(load(root).augment, root / "data")
    cache.use_data_dir(None)  # warming points this process's bank cache there
    for name in (
        "Dockerfile.template",
        "requirements-docker.txt",
        "constraints.txt",
        "scripts/build_kenlm.sh",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "docker", root / "docker")
    shutil.copytree(
        ROOT / "dstorch", root / "dstorch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return root


def start_then_stop(runner, root: Path, capfd) -> dict:
    """Start, let two epochs finish, stop gracefully; returns the state in the volume."""
    runner.start()

    def two_epochs() -> bool:
        if not runner.alive():  # it died: show why instead of waiting out the timeout
            container = runner.client.containers.get(runner.container_name)
            log = container.logs(tail=30).decode(errors="replace")
            raise AssertionError(f"{runner.status_line()}; container log:\n{log}")
        return ((runner.read_state() or RunState()).epoch or 0) >= 2

    wait_for(two_epochs, 300, "two epochs")
    runner.stop(grace=120)
    stopped = runner.read_state()  # read from the checkpoint volume
    assert stopped.status is RunStatus.STOPPED and not runner.alive()
    assert env_value(root, "CURRENT_EPOCH") == str(stopped.epoch)
    assert runner.follow_log() == 0  # the stopped container's log, then its exit
    assert "Received SIGTERM" in capfd.readouterr().out
    return stopped


@pytest.mark.slow
def test_docker_build_run_stop_resume_fetch(tmp_path, capfd):
    from dstorch.runner.docker import DockerRunner

    client = docker_engine()
    base = os.environ.get("DSTORCH_TEST_BASE_IMAGE", "dstorch-test-base:latest")
    made = subprocess.run([str(ROOT / "scripts" / "make_base_image.sh"), base])
    assert made.returncode == 0, "scripts/make_base_image.sh failed (output above)"
    root = docker_project(tmp_path / "project", base, f"dstorch_test_{os.getpid()}")
    runner = DockerRunner(load(root), root, client)
    try:
        runner.create_volumes()
        runner.build()
        user = client.images.get("dstorch-test-trainer").attrs["Config"]["User"]
        assert user == f"{os.getuid()}:{os.getgid()}"
        stopped = start_then_stop(runner, root, capfd)

        # A lost container: everything needed to resume lives in the volumes.
        client.containers.get(runner.container_name).remove(force=True)
        set_env_value(root / "configuration.env", "MAX_EPOCH", str(stopped.epoch + 1))
        runner = DockerRunner(load(root), root, client)
        assert runner.status_line().startswith(f"stopped (docker), epoch {stopped.epoch}/")
        runner.start()
        assert runner.follow_log() == 0
        out = capfd.readouterr().out
        assert "already holds data/" in out and "Resuming from" in out
        assert runner.read_state().status is RunStatus.FINISHED
        assert runner.read_state().epoch == stopped.epoch + 1
        assert env_value(root, "CURRENT_EPOCH") == str(stopped.epoch + 1)  # after a finish
        runner.start()  # a finished run is not silently rerun
        finished = capfd.readouterr().out
        assert "already finished" in finished and "raise MAX_EPOCH" in finished
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / "commands.tflite").write_text("from an older export")
        (root / "models" / "notes.txt").write_text("the user's own")

        # KenLM is in the image: the export includes <MODEL_NAME>.scorer (MODEL_NAME=commands).
        assert "Scorer: not built" not in out and "Scorer: not tuned" not in out
        copies = runner.fetch_outputs()
        # Only this model's files are replaced: its stale .tflite (EXPORT_TFLITE=no) goes,
        # what else lives in models/ stays.
        assert not (root / "models" / "commands.tflite").exists()
        assert (root / "models" / "notes.txt").read_text() == "the user's own"
        assert EXPORTS | {"commands.scorer"} <= {p.name for p in copies}
        assert all(p.stat().st_uid == os.getuid() and p.stat().st_size for p in copies)

        (root / "data" / "go_en_m1.wav").write_bytes((CLIPS / "no_en_m1.wav").read_bytes())
        assert runner.sync_data() == 1  # only the changed clip travels
        runner.reset()
        assert runner.read_state() is None and env_value(root, "CURRENT_EPOCH") == "0"
    finally:
        runner.clean()
    names = {v.name for v in client.volumes.list()}
    assert not any(name.startswith(runner.config.volume_prefix) for name in names)
    # Every image the project built: the trainer, its builder stage, the helper.
    label = {"label": f"dstorch.image={runner.config.image_name}"}
    assert client.images.list(all=True, filters=label) == []
    assert client.images.list(name="dstorch-volume-helper") == []


@pytest.mark.slow
def test_pretrained_model_travels_into_the_data_volume(tmp_path):
    """The trainer container has no network and sees no host path: PRETRAINED_MODEL (a
    file, or a checkpoint folder) is copied into the data volume, and the job reads it there."""
    from dstorch.runner.docker import DockerRunner

    client = docker_engine()
    model = tmp_path / "elsewhere" / "base.pbmm"
    model.parent.mkdir()
    model.write_bytes(b"a released model" * 1000)
    root = make_project(
        tmp_path / "project", RUNNER="docker", VOLUME_PREFIX=f"dstorch_pre_{os.getpid()}"
    )
    set_env_value(root / "configuration.env", "PRETRAINED_MODEL", str(model))
    runner = DockerRunner(load(root), root, client)
    try:
        files, inside = runner.pretrained()
        assert files == {"pretrained/base.pbmm": model} and inside == "/data/pretrained/base.pbmm"
        copied = runner.sync_data(files)
        assert runner._read(inside) == model.read_bytes()
        assert runner.sync_data(files) == 0 < copied  # unchanged: nothing travels again
        environment = runner._run_kwargs(gpu=False, pretrained=inside)["environment"]
        assert environment["DSTORCH_PRETRAINED_MODEL"] == inside

        folder = tmp_path / "run" / "checkpoints"
        (folder / "best").mkdir(parents=True)
        (folder / "best" / "model.pt").write_bytes(b"weights")
        set_env_value(root / "configuration.env", "PRETRAINED_MODEL", str(folder))
        files, inside = DockerRunner(load(root), root, client).pretrained()
        assert files == {"pretrained/checkpoints/best/model.pt": folder / "best" / "model.pt"}
        assert inside == "/data/pretrained/checkpoints"

        set_env_value(root / "configuration.env", "PRETRAINED_MODEL", str(tmp_path / "nope.pbmm"))
        with pytest.raises(RunnerError, match="PRETRAINED_MODEL: .*nope.pbmm: no such file"):
            DockerRunner(load(root), root, client).pretrained()
    finally:
        runner.clean()
