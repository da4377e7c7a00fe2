"""Runners: configuration plumbing, the local runner's lifecycle with the real
`python -m dstorch job`, and the Docker runner against a real engine (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dstorch.config import PipelineConfig
from dstorch.runner import LocalRunner, RunnerError, run_action, select_runner
from dstorch.runner.base import format_status, job_environment, set_env_value
from dstorch.runner.docker_image import (
    PipLender,
    context_files,
    host_pip_options,
    render_dockerfile,
)

ROOT = Path(__file__).resolve().parent.parent
CLIPS = Path(__file__).parent / "fixtures" / "clips"
# Small and fast: a few seconds per run on one CPU core.
FAST = {
    "N_HIDDEN": "16",
    "TRAIN_BATCH_SIZE": "2",
    "DEV_BATCH_SIZE": "8",
    "TEST_BATCH_SIZE": "8",
    "EXPORT_BEAM_WIDTH": "10",
    "MAX_EPOCH": "2",
}
# What every export holds; commands.scorer joins them where KenLM is available.
EXPORTS = {"commands.pb", "commands.pbmm", "alphabet.txt", "report.json", "report.html"}
REPORT_PLOTS = {"report-loss.png", "report-accuracy.png", "report-confusion.png"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the project's configuration.env counts, not keys exported by `make`."""
    for key in PipelineConfig.keys():
        monkeypatch.delenv(key, raising=False)


def make_project(root: Path, **settings: str) -> Path:
    """A project folder: configuration.env (+ settings) and data/ from the clip fixtures."""
    data = root / "data"
    data.mkdir(parents=True)
    for wav in CLIPS.glob("*.wav"):
        shutil.copy(wav, data / wav.name)
    shutil.copy(CLIPS / "alphabet.txt", data / "alphabet.txt")
    for split in ("train", "dev", "test"):
        shutil.copy(CLIPS / "clips.csv", data / f"{split}.csv")
    shutil.copy(ROOT / "configuration.env", root / "configuration.env")
    for key, value in {**FAST, **settings}.items():
        set_env_value(root / "configuration.env", key, value)
    return root


def load(root: Path) -> PipelineConfig:
    return PipelineConfig.load(root / "configuration.env")


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def env_value(root: Path, key: str) -> str:
    lines = (root / "configuration.env").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{key}="))


# --- configuration plumbing ---------------------------------------------------------------


def test_set_env_value_keeps_comments_and_is_atomic(tmp_path):
    path = tmp_path / "configuration.env"
    path.write_text("# top\nMAX_EPOCH=40\n# why\nCURRENT_EPOCH=0\nX=1")
    set_env_value(path, "CURRENT_EPOCH", "7")
    set_env_value(path, "NEW_KEY", "yes")
    assert path.read_text() == "# top\nMAX_EPOCH=40\n# why\nCURRENT_EPOCH=7\nX=1\nNEW_KEY=yes\n"
    assert [p.name for p in tmp_path.iterdir()] == ["configuration.env"]


def test_job_environment_round_trips_every_key():
    config = PipelineConfig(max_epoch=3, early_stop=True, dev_fraction=0.25, alphabet="")
    env = job_environment(config)
    assert set(PipelineConfig.keys()) <= set(env)
    assert env["EARLY_STOP"] == "yes" and env["LOAD_FROM_CHECKPOINT"] == "yes"
    assert PipelineConfig.load("/nonexistent.env", environ=env) == config


def test_status_line_wording():
    state = {"state": "running", "epoch": 3, "max_epoch": 10, "best_dev_loss": 12.5}
    assert (
        format_status(state, True, "local") == "running (local), epoch 3/10, best dev loss 12.5000"
    )
    assert format_status(state, False, "docker").startswith("interrupted (docker)")
    assert format_status(None, False, "local") == "not started (local)"
    failed = {
        "state": "failed",
        "epoch": 0,
        "max_epoch": 2,
        "best_dev_loss": None,
        "error": "DataError: bad",
    }
    assert (
        format_status(failed, False, "local")
        == "failed (local), epoch 0/2, best dev loss n/a, error: DataError: bad"
    )


def test_dockerfile_renders_deps_before_code_and_no_hosts():
    config = PipelineConfig(base_image="example/base:1")
    text = render_dockerfile(config, ROOT, 1234, 5678)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    # The KenLM builder stage, then the trainer: both on the base image, for the wheel's ABI.
    assert [line for line in lines if line.startswith("FROM")] == [
        "FROM example/base:1 AS kenlm",
        "FROM example/base:1",
    ]
    trainer = lines.index("FROM example/base:1")
    assert not any("app/" in line for line in lines[:trainer])  # code never rebuilds KenLM
    deps = next(i for i, line in enumerate(lines) if i > trainer and line.startswith("COPY deps/"))
    code = next(i for i, line in enumerate(lines) if line.startswith("COPY app/"))
    assert deps < code
    assert "DSTORCH_KENLM_BIN=/opt/kenlm/bin" in text and "COPY --from=kenlm" in text
    assert "USER 1234:5678" in lines and "{{" not in text and "://" not in text
    assert "torch" not in (ROOT / "requirements-docker.txt").read_text().split("#")[0]
    names = context_files(ROOT)
    assert "app/dstorch/job.py" in names and "deps/requirements-docker.txt" in names
    assert names["deps/build_kenlm.sh"] == ROOT / "scripts" / "build_kenlm.sh"
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
import dstorch.cli, dstorch.job, dstorch.export, dstorch.train
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


def test_pip_configuration_is_lent_through_localhost(tmp_path):
    # A file:// simple index whose pages link to ../../files/, like a local mirror.
    (tmp_path / "mirror" / "simple" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "files").mkdir()
    (tmp_path / "mirror" / "files" / "demo-1.0.tar.gz").write_bytes(b"package")
    (tmp_path / "mirror" / "simple" / "demo" / "index.html").write_text(
        '<a href="../../files/demo-1.0.tar.gz">demo</a>'
    )
    (tmp_path / "secret.txt").write_text("not lent")
    cert = tmp_path / "ca.pem"
    cert.write_text("CERT")
    fake_pip = tmp_path / "fakepython"
    fake_pip.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        f"global.extra-index-url='file://{tmp_path}/mirror/simple'\n"
        f"global.cert='{cert}'\n:env:.timeout='60'\nglobal.user='x'\nEOF\n"
    )
    fake_pip.chmod(0o755)
    options = host_pip_options(str(fake_pip))
    assert options == {
        "extra-index-url": f"file://{tmp_path}/mirror/simple",
        "cert": str(cert),
        "timeout": "60",
    }
    with PipLender(options, 0) as lender:
        conf = urllib.request.urlopen(f"{lender.url}/pip.conf").read().decode()
        index = next(
            line.split(" = ")[1] for line in conf.splitlines() if line.startswith("extra-index-url")
        )
        assert index.startswith(lender.url) and "cert = /tmp/dstorch-pip/ca.pem" in conf
        assert urllib.request.urlopen(f"{lender.url}/ca.pem").read() == b"CERT"
        page = urllib.request.urlopen(f"{index}demo/").read().decode()
        assert "../../files/demo-1.0.tar.gz" in page
        wheel = urllib.request.urlopen(f"{index}demo/../../files/demo-1.0.tar.gz").read()
        assert wheel == b"package"
        with pytest.raises(urllib.error.HTTPError):  # outside what was lent
            urllib.request.urlopen(f"{lender.url}/f{tmp_path}/secret.txt")


def test_runner_selection_and_one_line_errors(tmp_path, monkeypatch, capsys):
    make_project(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert isinstance(select_runner(load(tmp_path), tmp_path), LocalRunner)  # RUNNER=auto
    assert "local (RUNNER=auto and no Docker engine answers" in capsys.readouterr().err
    monkeypatch.setenv("RUNNER", "docker")
    assert run_action("status", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no Docker engine answers") and "\n" not in err
    assert "scripts/start_dockerd.sh" in err and "RUNNER=local" in err
    monkeypatch.setenv("RUNNER", "local")
    shutil.rmtree(tmp_path / "data")
    assert run_action("start", tmp_path) == 2
    assert "prepare the data first" in capsys.readouterr().err


# --- local runner: the real job -----------------------------------------------------------


def test_local_run_finishes_exports_and_continues_when_max_epoch_is_raised(tmp_path, capfd):
    root = make_project(tmp_path, RUNNER="local")
    runner = LocalRunner(load(root), root)
    assert runner.status_line() == "not started (local)"
    runner.start()
    assert runner.follow_log() == 0
    assert runner.status_line().startswith("finished (local), epoch 2/2, best dev loss ")
    copied = {p.name for p in runner.fetch_outputs()}
    assert EXPORTS <= copied <= EXPORTS | REPORT_PLOTS | {"commands.scorer"}
    assert {p.name for p in (root / "models").iterdir()} == copied
    assert "Epoch 2: dev loss" in capfd.readouterr().out

    set_env_value(root / "configuration.env", "MAX_EPOCH", "3")
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    assert runner.read_state()["epoch"] == 3 and runner.read_state()["state"] == "finished"
    assert "Resuming from" in capfd.readouterr().out


def test_local_stop_records_epoch_then_resumes(tmp_path, capfd):
    root = make_project(tmp_path, RUNNER="local", MAX_EPOCH="2000")
    runner = LocalRunner(load(root), root)
    runner.start()
    runner.start()  # a second start must not launch a second job
    assert "already running" in capfd.readouterr().out
    wait_for(lambda: (runner.read_state() or {}).get("epoch", 0) >= 2, 120, "two epochs")
    runner.stop(grace=60)
    state = runner.read_state()
    assert state["state"] == "stopped" and not runner.alive()
    assert env_value(root, "CURRENT_EPOCH") == str(state["epoch"])
    assert "# Stop after this many epochs" in (root / "configuration.env").read_text()
    assert runner.status_line().startswith(f"stopped (local), epoch {state['epoch']}/2000")

    set_env_value(root / "configuration.env", "MAX_EPOCH", str(state["epoch"] + 1))
    runner = LocalRunner(load(root), root)
    runner.start()
    assert runner.follow_log() == 0
    assert runner.read_state()["epoch"] == state["epoch"] + 1
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
    with pytest.raises(RunnerError, match="no exported model"):
        runner.fetch_outputs()


# --- Docker runner: a real engine, a real image -------------------------------------------


def docker_engine():
    """A client for a running engine, starting one (root only) when none answers."""
    from dstorch.runner.docker import connect

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
    # What `make prepare` writes for the scorer: every command.
    (root / "data" / "lm_corpus.txt").write_text("go\nno\nyes\nstop\n")
    for name in ("Dockerfile.template", "requirements-docker.txt", "scripts/build_kenlm.sh"):
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
        return (runner.read_state() or {}).get("epoch", 0) >= 2

    wait_for(two_epochs, 300, "two epochs")
    runner.stop(grace=120)
    stopped = runner.read_state()  # read from the checkpoint volume
    assert stopped["state"] == "stopped" and not runner.alive()
    assert env_value(root, "CURRENT_EPOCH") == str(stopped["epoch"])
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
        set_env_value(root / "configuration.env", "MAX_EPOCH", str(stopped["epoch"] + 1))
        runner = DockerRunner(load(root), root, client)
        assert runner.status_line().startswith(f"stopped (docker), epoch {stopped['epoch']}/")
        runner.start()
        assert runner.follow_log() == 0
        out = capfd.readouterr().out
        assert "already holds data/" in out and "Resuming from" in out
        assert runner.read_state()["state"] == "finished"
        assert runner.read_state()["epoch"] == stopped["epoch"] + 1

        # KenLM is in the image: the export includes <MODEL_NAME>.scorer (MODEL_NAME=commands).
        assert "Scorer: not built" not in out and "Scorer: not tuned" not in out
        copies = runner.fetch_outputs()
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
