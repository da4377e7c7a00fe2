"""The Docker image: the rendered Dockerfile, its build context and requirements (the pip
configuration lent to the build: test_pip_lender.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import shipped_config
from runner_helpers import ROOT, clear_config_environment

from dstorch.runner.docker_image import context_files, render_dockerfile


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the project's configuration.env counts, not keys exported by `make`."""
    clear_config_environment(monkeypatch)


def test_dockerfile_renders_deps_before_code_and_no_hosts():
    config = shipped_config(base_image="example/base:1")
    text = render_dockerfile(config, ROOT, 1234, 5678)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    # The builder stage (KenLM, the decoder kernel), then the trainer: both on the base
    # image, for the wheel's ABI and the kernel's C library.
    assert [line for line in lines if line.startswith("FROM")] == [
        "FROM example/base:1 AS builder",
        "FROM example/base:1",
    ]
    trainer = lines.index("FROM example/base:1")
    assert not any("app/" in line for line in lines[:trainer])  # code never rebuilds them
    deps = next(i for i, line in enumerate(lines) if i > trainer and line.startswith("COPY deps/"))
    code = next(i for i, line in enumerate(lines) if line.startswith("COPY app/"))
    assert deps < code
    assert "DSTORCH_KENLM_BIN=/opt/kenlm/bin" in text and "COPY --from=builder" in text
    # The kernel: built by the same build.py as `make dependencies`, found through the ENV
    # and loaded once by the trainer user after the code is in.
    assert "DSTORCH_KERNEL_DIR=/opt/ctc_kernel" in text
    assert "COPY --from=builder /opt/ctc_kernel/ /opt/ctc_kernel/" in lines
    assert "library()" in lines[-1] and lines.index("USER 1234:5678") < len(lines) - 1
    assert "USER 1234:5678" in lines and "{{" not in text and "://" not in text
    assert "torch" not in (ROOT / "requirements-docker.txt").read_text().split("#")[0]
    names = context_files(ROOT)
    assert "app/dstorch/training/job.py" in names and "deps/requirements-docker.txt" in names
    assert names["deps/build_kenlm.sh"] == ROOT / "scripts" / "build_kenlm.sh"
    kernel = {n for n in names if n.startswith("deps/ctc_kernel/")}
    assert kernel == {f"deps/ctc_kernel/{n}" for n in ("build.py", "ctc_kernel.c", "ctc_pool.h")}
    assert not any("__pycache__" in n or n.startswith(("data/", "runs/")) for n in names)


def test_requirements_docker_are_project_dependencies():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = [
        line.strip()
        for line in (ROOT / "requirements-docker.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert set(wanted) <= set(project)


JOB_MODULES = """
import json, sys
import dstorch.cli, dstorch.training.job, dstorch.export, dstorch.training.loop
files = [m.__file__ for n, m in list(sys.modules.items()) if n.startswith("dstorch") and m.__file__]
print(json.dumps(files))
"""


def job_third_party_imports() -> set[str]:
    """Top-level modules that the job's own code imports (lazy imports included).

    The job's source, not sys.modules: libraries try optional imports of their own.
    """
    import ast
    import json

    out = subprocess.run(
        [sys.executable, "-c", JOB_MODULES], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    names = set()
    for path in json.loads(out):
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"dstorch", "__future__"}


def _closure(names: set[str]) -> set[str]:
    """Distributions `names` install, with everything they require (no extras)."""
    import importlib.metadata as metadata
    import re

    seen: set[str] = set()
    todo = [n.lower().replace("_", "-") for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            if "extra ==" not in line:
                todo.append(re.split(r"[ ;<>=!~\[(]", line, maxsplit=1)[0].lower())
    return {n.replace("_", "-") for n in seen}


def test_requirements_docker_cover_what_the_job_imports():
    """A module the job imports but the image lacks would only show inside a container."""
    import importlib.metadata as metadata

    modules = job_third_party_imports()
    assert {"torch", "numpy"} <= modules  # the scan does see the job's imports
    providers = metadata.packages_distributions()
    needed = {d.lower().replace("_", "-") for m in modules for d in providers.get(m, [m])}
    lines = (ROOT / "requirements-docker.txt").read_text().splitlines()
    wanted = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    missing = needed - _closure(wanted | {"torch"})
    assert not missing, f"add {sorted(missing)} to requirements-docker.txt"


def test_unpullable_base_image_error_names_the_fix():
    from dstorch.runner.docker_image import build_error

    config = shipped_config(base_image="example/missing:1")
    message = str(build_error(config, "pull access denied for example/missing"))
    assert "BASE_IMAGE=example/missing:1" in message and "RUNNER=local" in message
    assert "BASE_IMAGE" not in str(build_error(config, "RUN step exited with code 1"))


def test_every_stage_is_labelled_for_make_clean():
    # `make clean` removes images by this label: the builder stage (1.7 GB) too.
    config = shipped_config(base_image="example/base:1", image_name="my-trainer")
    lines = render_dockerfile(config, ROOT, 1, 1).splitlines()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM")]
    assert len(stages) == 2
    for i in stages:
        assert lines[i + 1] == "LABEL dstorch.image=my-trainer"


def test_image_installs_with_the_venv_constraints(tmp_path):
    """pip_install.sh applies constraints.txt (shipped in the context) less what the image
    pins itself (torch, the builder stage's wheels)."""
    assert context_files(ROOT)["deps/constraints.txt"] == ROOT / "constraints.txt"
    deps = tmp_path / "deps"
    deps.mkdir()
    for name in ("pip_install.sh", "pip_config.sh"):
        (deps / name).write_bytes((ROOT / "docker" / name).read_bytes())
    (deps / "constraints.txt").write_text("numpy==2.4.6\nkenlm==0.3.0\ntorch==1.0\n# note\n")
    (deps / "requirements.txt").write_text("numpy\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "kenlm-0.2.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `python -m pip install ...` prints the constraints it was given instead of installing.
    (bin_dir / "python").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ]; then\n'
        '  while [ "$1" != "-c" ]; do shift; done; cat "$2"; exit 0\nfi\n'
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "python").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["sh", str(deps / "pip_install.sh"), str(deps / "requirements.txt"), str(wheels)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    pins = sorted(line for line in result.stdout.splitlines() if "==" in line)
    import torch

    assert pins == ["kenlm==0.2.0", "numpy==2.4.6", f"torch=={torch.__version__}"]


def test_unpullable_base_image_error_names_the_local_base_image_script():
    from dstorch.runner.docker_image import build_error

    config = shipped_config(base_image="example/missing:1")
    message = str(build_error(config, "pull access denied for example/missing"))
    assert "scripts/make_base_image.sh" in message and "\n" not in message
