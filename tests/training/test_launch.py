"""The torchrun launcher: a run on one machine listens on loopback only (its rendezvous
store answers anyone who connects, without credentials)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from runner_helpers import ROOT, clear_config_environment, load, make_project, wait_for

from dstorch.runner.torchrun import launcher_args

# Each rank joins the gloo group as dstorch's trainer does (distributed.join), says so,
# and waits for the test to have looked at the sockets.
RANK = """
import os, sys, time
from pathlib import Path
import torch
from dstorch.training.distributed import join
group = join(torch.device("cpu"))
assert group.sum(1.0, True)[0] == 2.0
Path(sys.argv[1], os.environ["RANK"]).touch()
while not Path(sys.argv[1], "done").exists():
    time.sleep(0.1)
group.close()
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    clear_config_environment(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
        monkeypatch.delenv(variable, raising=False)


def listening(session: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket that processes of `session` listen on."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            try:
                if os.getsid(pid) == session:
                    address, port = local.rsplit(":", 1)
                    found.append((address.strip("[]"), int(port)))
            except ProcessLookupError:
                pass
    return found


def external_address() -> str | None:
    """This machine's address on its default route, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_two_cpu_ranks_listen_on_loopback_only(tmp_path):
    """`make run GPUS=2` on a CPU machine: torchrun --standalone listened on *:<port>,
    reachable from other machines, even with MASTER_ADDR=127.0.0.1."""
    config = dataclasses.replace(load(make_project(tmp_path / "p")), gpus="2")
    args = launcher_args(config, gpu_host=False)
    (tmp_path / "rank.py").write_text(textwrap.dedent(RANK))
    launcher = subprocess.Popen(
        [sys.executable, *args, str(tmp_path / "rank.py"), str(tmp_path)],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: (tmp_path / "0").exists() and (tmp_path / "1").exists(), 120, "ranks")
        sockets = listening(launcher.pid)
        assert sockets and all(addr in ("127.0.0.1", "::1") for addr, _ in sockets), sockets
        external = external_address()
        if external:
            for _, port in sockets:
                with pytest.raises(OSError):
                    socket.create_connection((external, port), timeout=2).close()
        (tmp_path / "done").touch()
        assert launcher.wait(60) == 0, launcher.stdout.read().decode()
    finally:  # the ranks too, even when the launcher already exited
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()


def test_options_are_read_before_the_program_only():
    from dstorch.training.launch import option

    argv = ["--nproc_per_node=2", "--master_port=0", "-m", "x", "--master_port=9"]
    assert option(argv, "master_port") == "0" and option(argv, "master_addr") is None
    assert option([Path("rank.py").name, "--master_port=9"], "master_port") is None
