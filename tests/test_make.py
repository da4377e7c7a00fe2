"""The front door: the Makefile on a copy of the repository, as a user runs it.

prepare -> build -> run (detached) -> stop mid-run -> run (resume) -> log (until finished,
which fetches the export) -> the official client loads models/ with the scorer.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAST = {
    "RUNNER": "local",
    "MAX_EPOCH": "10",
    "LM_TUNE_TRIALS": "3",
    "AUGMENT": "volume[p=0.5,dbfs=-30:-10]",
}


def make(repo: Path, *args: str, check: bool = True, **env) -> subprocess.CompletedProcess:
    values = {**os.environ, **env}
    values.pop("MAKEFLAGS", None)
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=repo,
        env=values,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def repo(tmp_path) -> Path:
    """A checkout of the tracked files, sharing this one's venv and KenLM build."""
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    copy = tmp_path / "repo"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    (copy / "build").mkdir()
    if (ROOT / "build" / "kenlm").exists():
        (copy / "build" / "kenlm").symlink_to(ROOT / "build" / "kenlm")
    return copy


def test_help_lists_every_target():
    text = (ROOT / "Makefile").read_text()
    targets = {line.split(":")[0] for line in text.splitlines() if ": ##" in line}
    shown = make(ROOT, "help").stdout
    assert targets and all(f"  {t} " in shown for t in targets)
    phony = text.split(".PHONY:")[1].split("\n\n")[0]
    assert all(t in phony for t in targets)


def wait_for_epoch(repo: Path, epoch: int, timeout: float = 300) -> None:
    state = repo / "runs" / "commands" / "checkpoints" / "state.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state.exists() and f'"epoch": {epoch}' in state.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"epoch {epoch} not reached: {state.read_text()}")


@pytest.mark.slow
def test_make_trains_stops_resumes_and_exports(repo, deepspeech_lib):
    from dstorch.client import OfficialModel
    from dstorch.data import read_wav

    make(repo, **FAST)  # volumes + build (prepares data/) + run, detached
    assert (repo / "data" / "train.csv").exists()
    wait_for_epoch(repo, 2)
    make(repo, "stop", **FAST)
    status = make(repo, "status", **FAST).stdout
    assert status.startswith("stopped (local), epoch ")
    stopped_at = int(status.split("epoch ")[1].split("/")[0])
    assert 2 <= stopped_at < 10
    assert f"CURRENT_EPOCH={stopped_at}" in (repo / "configuration.env").read_text()

    make(repo, "run", **FAST)
    log = make(repo, "log", **FAST).stdout
    assert "Resuming from" in log and "Exported" in log
    assert make(repo, "status", **FAST).stdout.startswith("finished (local), epoch 10/10")

    models = repo / "models"
    for suffix in (".pb", ".pbmm", ".scorer"):
        assert (models / f"commands{suffix}").is_file()
    clips = repo / "clips"  # one take of each command
    clips.mkdir()
    for wav in sorted((repo / "original" / "en").glob("*.wav"))[:6]:
        shutil.copy(wav, clips / wav.name)
    with OfficialModel(models / "commands.pbmm", deepspeech_lib) as official:
        official.enable_scorer(models / "commands.scorer")  # raises unless it returns 0
        theirs = {wav.name: official.stt(read_wav(wav)) for wav in sorted(clips.iterdir())}
    assert any(theirs.values()), "a 10-epoch model with the scorer should say something"
    out = make(repo, "transcribe", f"AUDIO={clips}", **FAST).stdout.strip().splitlines()
    ours = dict(line.split("\t", 1) if "\t" in line else (line.strip(), "") for line in out)
    assert ours == theirs
    assert (repo / "original").exists() and not (repo / "original" / "en" / ".tmp").exists()


@pytest.mark.slow
def test_rebuild_with_new_data_starts_fresh(repo):
    fast = {**FAST, "MAX_EPOCH": "2"}
    make(repo, **fast)
    make(repo, "log", **fast)
    first = sorted((repo / "original" / "en").glob("*.wav"))[0]
    new = first.with_name(first.name.replace("_001.wav", "_009.wav"))
    shutil.copy(first, new)  # a new take of a known command
    make(repo, "rebuild", "NEW_DATA=yes", "LOAD_FROM_CHECKPOINT=no", **fast)
    log = make(repo, "log", **fast).stdout
    assert "Resuming from" not in log and "Exported" in log
    assert new.name in (repo / "data" / "registry.csv").read_text()
    assert make(repo, "status", **fast).stdout.startswith("finished (local), epoch 2/2")
