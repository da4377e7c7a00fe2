"""scripts/system_packages.sh, the first step of `make dependencies`, run for real:
everything is installed on the test machines, so the quick "all present" path runs as is;
the "not root and no sudo" path runs as the unprivileged `nobody` user."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import ROOT

SCRIPT = ROOT / "scripts" / "system_packages.sh"
debian = pytest.mark.skipif(
    not (shutil.which("dpkg-query") and shutil.which("apt-get")), reason="needs Debian/Ubuntu"
)


def run(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
    command = ["bash", str(SCRIPT), *args]
    if user:  # as another user, with a PATH that has no sudo in it
        command = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *command]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@debian
def test_all_present_installs_nothing():
    """This machine has every package (CI installs them with `make dependencies`)."""
    packages = run("--list").stdout.split()
    # python3-dev: pip builds the kenlm module from source (missed once, found by the
    # fresh-machine test, tests/test_fresh_machine.py).
    needed = {"sox", "cmake", "libboost-program-options-dev", "espeak-ng", "flite", "python3-dev"}
    assert needed <= set(packages)
    result = run()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"System packages: all {len(packages)} present."
    assert run("sox", "cmake").stdout.strip() == "System packages: all 2 present."


@debian
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or bool(shutil.which("sudo")),
    reason="needs root (to become nobody) and no sudo on the machine",
)
def test_not_root_and_no_sudo_prints_the_one_command():
    result = run("sox", "dstorch-no-such-package", user="65534")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "error: missing system packages: dstorch-no-such-package; run as root: apt-get update "
        "&& apt-get install -y --no-install-recommends dstorch-no-such-package"
    )
