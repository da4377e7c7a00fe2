"""GPUS and NNODES decide how the runners start the job: one process, or torchrun."""

from __future__ import annotations

import dataclasses

import pytest
from runner_helpers import clear_config_environment, load, make_project

from dstorch.config import ConfigError, PipelineConfig
from dstorch.runner import LocalRunner, RunnerError
from dstorch.runner.torchrun import LAUNCHER, describe, launcher_args


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    clear_config_environment(monkeypatch)


@pytest.fixture
def config(tmp_path) -> PipelineConfig:
    return load(make_project(tmp_path))


def test_one_process_needs_no_torchrun(config):
    assert config.gpus == "1" and launcher_args(config, gpu_host=True) == []
    all_gpus = dataclasses.replace(config, gpus="all")
    assert launcher_args(all_gpus, gpu_host=False) == []  # no GPU: one plain process
    assert describe([]) == "one process"


def test_gpus_start_torchrun_on_this_machine(config):
    every = launcher_args(dataclasses.replace(config, gpus="all"), gpu_host=True)
    # The rendezvous on loopback, a free port (not --standalone: it listened everywhere).
    here = ["--nnodes=1", "--node_rank=0", "--master_addr=127.0.0.1", "--master_port=0"]
    assert every == ["-m", LAUNCHER, "--nproc_per_node=gpu", *here]
    assert describe(every) == "torchrun, one process per GPU"
    # Without GPUs, N processes train on the CPU over gloo.
    two = launcher_args(dataclasses.replace(config, gpus="2"), gpu_host=False)
    assert two == ["-m", LAUNCHER, "--nproc_per_node=2", *here]


def test_several_machines_meet_at_the_master(config):
    node = dataclasses.replace(
        config, gpus="all", nnodes=2, node_rank=1, master_addr="10.0.0.5", master_port=29400
    )
    args = launcher_args(node, gpu_host=True)
    assert args[-4:] == [
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=10.0.0.5",
        "--master_port=29400",
    ]
    assert describe(args) == "torchrun, one process per GPU on each of 2 machines"
    with pytest.raises(RunnerError, match="NODE_RANK=2 with NNODES=2"):
        launcher_args(dataclasses.replace(node, node_rank=2), gpu_host=True)


def test_the_master_node_listens_on_master_addr_or_says_why_not(config):
    """NODE_RANK=0 binds the rendezvous to MASTER_ADDR; on a machine without that
    address it is one line, not a store listening on every interface."""
    from dstorch.training.launch import host_rendezvous

    master = dataclasses.replace(
        config, gpus="2", nnodes=2, node_rank=0, master_addr="192.0.2.1", master_port=29400
    )
    with pytest.raises(OSError, match=r"cannot listen on MASTER_ADDR=192.0.2.1 port 29400"):
        host_rendezvous(launcher_args(master, gpu_host=False)[2:])
    other = launcher_args(dataclasses.replace(master, node_rank=1), gpu_host=False)[2:]
    assert host_rendezvous(other) is None  # the other machines only connect


def test_local_runner_command_runs_the_job_under_torchrun(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    monkeypatch.setenv("DSTORCH_GPUS", "2")
    command = LocalRunner(load(root), root).command()
    assert command[1:4] == ["-m", LAUNCHER, "--nproc_per_node=2"]
    assert command[8:11] == ["-m", "dstorch", "job"]


def test_bad_gpus_value_is_one_line(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    monkeypatch.setenv("DSTORCH_GPUS", "two")
    with pytest.raises(ConfigError, match="GPUS='two' is not valid; use all, or a number"):
        load(root)
