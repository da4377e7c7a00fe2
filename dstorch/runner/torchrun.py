"""How a runner starts the job: one plain process, or torchrun over several (GPUS, NNODES).

Both runners start `python <launcher_args> -m dstorch job ...`; with more than one process
the launcher arguments are `-m dstorch.training.launch <torchrun options>`, torchrun in
the job's process (see that module). This module imports no torch: it only builds words.
"""

from __future__ import annotations

from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.runner.base import RunnerError

LAUNCHER = "dstorch.training.launch"
LOOPBACK = "127.0.0.1"  # the rendezvous address of a run on one machine


def host_has_nvidia_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU (without loading CUDA or torch)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    return any(Path("/dev").glob("nvidia[0-9]*"))


def processes_per_node(gpus: str, gpu_host: bool) -> str | None:
    """torchrun's --nproc_per_node for GPUS, or None for one plain process.

    all: one per GPU ("gpu": torchrun counts the GPUs the process sees), one plain process
    on a machine without; N: N processes (on a machine without GPUs, N CPU processes
    over gloo); 1: one plain process.
    """
    if gpus == "all":
        return "gpu" if gpu_host else None
    return None if int(gpus) == 1 else str(int(gpus))


def launcher_args(config: PipelineConfig, gpu_host: bool) -> list[str]:
    """The Python arguments before `-m dstorch job`: [] for one plain process."""
    nproc = processes_per_node(config.gpus, gpu_host)
    if config.nnodes == 1 and nproc is None:
        return []
    # Every option as --name=value: the launcher reads them (launch.option).
    args = ["-m", LAUNCHER, f"--nproc_per_node={nproc or '1'}"]
    if config.nnodes == 1:
        # Not --standalone, whose store listens on every interface: the launcher binds
        # it to loopback, on a free port (0), so two runs never collide.
        return args + [
            "--nnodes=1",
            "--node_rank=0",
            f"--master_addr={LOOPBACK}",
            "--master_port=0",
        ]
    if config.node_rank >= config.nnodes:
        raise RunnerError(
            f"NODE_RANK={config.node_rank} with NNODES={config.nnodes}; give each machine "
            f"its own NODE_RANK from 0 to {config.nnodes - 1}"
        )
    return args + [
        f"--nnodes={config.nnodes}",
        f"--node_rank={config.node_rank}",
        f"--master_addr={config.master_addr}",
        f"--master_port={config.master_port}",
    ]


def describe(args: list[str]) -> str:
    """A few words on what `launcher_args` start, for the runner's start message."""
    if not args:
        return "one process"
    nproc = next(a.split("=")[1] for a in args if a.startswith("--nproc_per_node="))
    per_node = "one process per GPU" if nproc == "gpu" else f"{nproc} process(es)"
    nodes = next((a.split("=")[1] for a in args if a.startswith("--nnodes=")), "1")
    return f"torchrun, {per_node}" + (f" on each of {nodes} machines" if nodes != "1" else "")
