"""DDP: two gloo processes under torchrun train the model one process trains with their
global batch; a stop reaches every rank and the run resumes exactly."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from runner_helpers import CLIPS, EXPORTS, clear_config_environment, load, make_project, wait_for

from dstorch.runner import LocalRunner
from dstorch.runner.state import RunStatus, read_state
from dstorch.runner.torchrun import LAUNCHER
from dstorch.training import checkpoint as ckpt
from dstorch.training.distributed import Group, Ranks
from dstorch.training.loop import train


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    clear_config_environment(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two ranks on a 2-core machine


def test_ranks_come_from_torchrun_environment():
    ranks = Ranks.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ranks.rank, ranks.world_size, ranks.local_rank, ranks.is_main) == (3, 4, 1, False)
    assert Ranks.from_env({}) == Ranks(0, 1, 0)


def test_shards_cover_a_global_batch_once():
    batch = list(range(7))
    shards = [Group(Ranks(r, 3), torch.device("cpu")).shard(batch) for r in range(3)]
    assert sorted(x for s in shards for x in s) == batch
    assert [len(s) for s in shards] == [3, 2, 2]
    assert Group(Ranks(2, 3), torch.device("cpu")).shard([0, 1]) == []  # runs weighted 0
    # Summed per-rank losses scaled this way, then averaged by DDP: the global mean.
    assert Group(Ranks(0, 2), torch.device("cpu")).scale(4) == 0.5


def test_single_process_group_is_the_identity():
    group = Group(Ranks(), torch.device("cpu"))
    model = torch.nn.Linear(2, 2)
    assert group.sum(1.5, True) == [1.5, 1.0] and group.any(False) is False
    assert group.broadcast({"a": 1}) == {"a": 1} and group.gather(5) == [5]
    assert group.wrap(model) is model and group.shard([1, 2]) == [1, 2]


@pytest.mark.slow
def test_two_gloo_ranks_stop_resume_export_and_match_one_process(tmp_path):
    """`make run GPUS=2` on a CPU machine: torchrun with two gloo ranks, TRAIN_BATCH_SIZE=1
    each; stopped mid-run, resumed, exported. Its model equals one process trained with
    TRAIN_BATCH_SIZE=2 (dropout 0; augmentation is seeded per sample, not per rank)."""
    root = make_project(
        tmp_path / "ddp",
        RUNNER="local",
        GPUS="2",
        TRAIN_BATCH_SIZE="1",
        DROPOUT_RATE="0",
        MAX_EPOCH="3",
        CHECKPOINT_SECS="0",  # a checkpoint after every step: the stop lands mid-epoch
        AUGMENT="volume[p=0.5,dbfs=-35:-15] frequency_mask[p=0.5,n=2,size=2]",
        LM_TUNE_TRIALS="0",
    )
    train_csv = root / "data" / "train.csv"  # three passes: time to stop before the end
    rows = (CLIPS / "clips.csv").read_text().splitlines()
    train_csv.write_text("\n".join(rows + rows[1:] * 2) + "\n")
    runner = LocalRunner(load(root), root)
    runner.start()
    wait_for(lambda: len(ckpt.last_checkpoints(runner.checkpoint_dir)) >= 2, 180, "2 steps")
    runner.stop(grace=60)
    stopped = runner.read_state()
    assert stopped.status is RunStatus.STOPPED, runner.log_file.read_text()
    assert stopped.epoch < 3, "the stop came after training ended; the test is too fast"
    step = ckpt.load_latest(runner.checkpoint_dir)["state"]["step"]

    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    log = runner.log_file.read_text()
    assert "Training on 2 processes" in log and f"step {step}" in log  # resumed there
    assert runner.read_state().status is RunStatus.FINISHED
    assert EXPORTS <= {p.name for p in runner.fetch_outputs()}
    ddp = ckpt.load_latest(runner.checkpoint_dir)
    assert len(ddp["rank_rng"]) == 1  # rank 1's dropout stream resumes too

    one = load(root).train_config(str(root / "data"), str(tmp_path / "one"), "")
    single = train(dataclasses.replace(one, train_batch_size=2, summary_dir=""))
    expected = ckpt.load_latest(tmp_path / "one")
    assert ddp["state"]["step"] == expected["state"]["step"] == single.state.step == 36
    for a, b in zip(ddp["state"]["history"], expected["state"]["history"], strict=True):
        assert a["dev_loss"] == pytest.approx(b["dev_loss"], rel=1e-5)
    for key, tensor in expected["model"].items():
        torch.testing.assert_close(ddp["model"][key], tensor, rtol=0, atol=1e-5)


def worker_of_rank(launcher: int, rank: int) -> int:
    """The pid of torchrun's worker with RANK=`rank` (a child of the launcher process)."""
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or int((entry / "stat").read_text().split()[3]) != launcher:
                continue
            if f"RANK={rank}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no worker of rank {rank} under pid {launcher}")


def launch(tmp_path: Path, name: str) -> subprocess.Popen:
    """`dstorch train` under torchrun, two gloo ranks of TRAIN_BATCH_SIZE 1, dropout on."""
    csv = str(CLIPS / "clips.csv")
    flags = {
        "train_files": ",".join([csv] * 3),
        "dev_files": csv,
        "alphabet_config_path": str(CLIPS / "alphabet.txt"),
        "checkpoint_dir": str(tmp_path / name),
        "n_hidden": "16",
        "epochs": "3",
        "train_batch_size": "1",
        "dropout_rate": "0.2",  # each rank's own dropout stream must resume too
        "checkpoint_secs": "0",
        "device": "cpu",
    }
    command = [sys.executable, "-m", LAUNCHER, "--nproc_per_node=2", "--nnodes=1"]
    command += ["--node_rank=0", "--master_addr=127.0.0.1", "--master_port=0"]  # loopback
    command += ["-m", "dstorch", "train", *(f"--{k}={v}" for k, v in flags.items())]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    """SIGTERM to rank 1 alone: rank 0 learns it in the next step's all-reduce, both stop
    there, rank 0 saves; nobody waits forever in a collective. The resumed run ends with
    the model of a run never stopped, dropout included (every rank's RNG is restored)."""
    finish(launch(tmp_path, "straight"))
    proc = launch(tmp_path, "ck")
    ck = tmp_path / "ck"
    wait_for(lambda: len(ckpt.last_checkpoints(ck)) >= 2 or proc.poll() is not None, 180, "steps")
    os.kill(worker_of_rank(proc.pid, 1), signal.SIGTERM)
    out = finish(proc)
    assert read_state(ck).status is RunStatus.STOPPED, out
    stopped = ckpt.load_latest(ck)["state"]
    assert stopped["step"] < 36, "the signal came after training ended; the test is too fast"
    assert f"Stopped at epoch {stopped['epoch']}, step {stopped['step']}" in out

    finish(launch(tmp_path, "ck"))
    a, b = ckpt.load_latest(tmp_path / "straight"), ckpt.load_latest(ck)
    assert a["state"]["step"] == b["state"]["step"] == 36
    assert a["state"]["history"] == b["state"]["history"]
    for key, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][key], tensor, rtol=0, atol=1e-6)
