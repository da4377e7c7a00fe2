"""The README's front door on a fresh Debian machine (slow).

A container from the registry-free base image (scripts/make_base_image.sh: debootstrap
minbase, Python 3.11) gets a clean copy of the tracked files and runs what a new user runs:
`make dependencies && make`, then `make log` until the run ends. Only make is installed
first (with scripts/system_packages.sh, as the README says); every other system package,
the venv and KenLM come from `make dependencies`. pip and apt reach the configured package
sources through the host network; the pip configuration is read from the host at run time,
never written down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT

BASE_IMAGE = os.environ.get("DSTORCH_TEST_BASE_IMAGE", "dstorch-test-base:latest")
# The base image puts its torch environment (/opt/conda) first on PATH; a fresh machine has
# only the system Python, so the venv must get everything from `make dependencies`.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SRC = "/src"
# The README's `make` as is (RUNNER=auto: no engine in the container, so the local runner),
# only shorter.
MAKE_ARGS = "MAX_EPOCH=2 LM_TUNE_TRIALS=3"
SCRIPT = f"""set -euo pipefail
! command -v make >/dev/null || {{ echo "base image is not fresh: make is installed"; exit 3; }}
bash scripts/system_packages.sh make >/dev/null  # the README's way to get make itself
SECONDS=0
make dependencies
echo "=== dependencies: ${{SECONDS}}s"
make {MAKE_ARGS}
make log
echo "=== make and log: ${{SECONDS}}s"
make status
"""


def docker_ready() -> None:
    """Skips (a failure under DSTORCH_STRICT=1, see conftest) without an engine or image."""
    if not shutil.which("docker"):
        pytest.skip("no docker command")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.skip(f"no Docker engine answers: {info.stderr.strip()[-200:]}")
    image = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    if image.returncode != 0:
        pytest.skip(f"no {BASE_IMAGE}; build it with scripts/make_base_image.sh {BASE_IMAGE}")


def host_pip_config() -> dict[str, str]:
    """The host's effective pip settings (files and PIP_* variables), read now."""
    python = ROOT / ".venv" / "bin" / "python"
    listed = subprocess.run(
        [str(python if python.exists() else "python3"), "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings: dict[str, str] = {}
    # Lines look like `global.find-links='/opt/wheels'`; `:env:.key` (PIP_KEY) wins.
    for line in sorted(listed.splitlines(), key=lambda text: text.startswith(":env:")):
        name, _, value = line.partition("=")
        settings[name.split(".", 1)[1]] = value.strip("'\"")
    return settings


def host_paths(settings: dict[str, str]) -> set[Path]:
    """Local files and folders the settings name, to mount read-only at the same place.

    A file:// index mounts its parent: its pages link to archives beside `simple/`.
    """
    paths = set()
    for value in settings.values():
        for token in value.split():
            if token.startswith("file://"):
                paths.add(Path(urlparse(token).path).parent)
            elif token.startswith("/") and Path(token).exists():
                paths.add(Path(token))
    return paths


def clean_tree(dest: Path) -> None:
    """The tracked files only, as a fresh clone has them (no venv, build/, data/)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.mark.slow
def test_make_dependencies_and_make_on_fresh_debian(tmp_path):
    docker_ready()
    tree = tmp_path / "src"
    clean_tree(tree)
    settings = host_pip_config()
    conf = tmp_path / "pip"
    conf.mkdir()
    (conf / "pip.conf").write_text(
        "[global]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    mounts = [f"--volume={tree}:{SRC}", f"--volume={conf}:/etc/dstorch-pip:ro"]
    mounts += [f"--volume={path}:{path}:ro" for path in sorted(host_paths(settings))]
    name = f"dstorch-fresh-{os.getpid()}"
    command = ["docker", "run", "--rm", f"--name={name}", "--network=host", *mounts]
    command += ["--env=PIP_CONFIG_FILE=/etc/dstorch-pip/pip.conf", f"--env=PATH={SYSTEM_PATH}"]
    command += ["--env=DEBIAN_FRONTEND=noninteractive", f"--workdir={SRC}"]
    try:
        done = subprocess.run([*command, BASE_IMAGE, "bash", "-c", SCRIPT], timeout=3600)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        # Root in the container wrote the tree: hand it back so tmp_path can be removed.
        owner = f"{os.getuid()}:{os.getgid()}"
        chown = [BASE_IMAGE, "chown", "-R", owner, SRC]
        subprocess.run(["docker", "run", "--rm", mounts[0], *chown], capture_output=True)
    assert done.returncode == 0, "make dependencies && make failed in the container (above)"
    models = tree / "models"
    assert list(models.glob("*.pbmm")) and list(models.glob("*.scorer")), sorted(
        path.name for path in models.glob("*")
    )
    shutil.rmtree(tree)  # 1.4 GB (venv with torch, KenLM build); kept when the test fails
