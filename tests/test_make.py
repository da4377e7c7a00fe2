"""The front door: the Makefile on a copy of the repository, as a user runs it.

prepare -> build -> run (detached) -> stop mid-run -> run (resume) -> log (until finished,
which fetches the export) -> the official client loads models/ with the scorer.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT

FAST = {
    "RUNNER": "local",
    "MAX_EPOCH": "10",
    "LM_TUNE_TRIALS": "3",
    "AUGMENT": "volume[p=0.5,dbfs=-30:-10]",
}


def make(
    repo: Path, *args: str, check: bool = True, env: dict | None = None, **keys: str
) -> subprocess.CompletedProcess:
    """`make ARGS KEY=value...` in `repo`: `keys` on the command line, `env` in the environment."""
    values = {**os.environ, **(env or {})}
    values.pop("MAKEFLAGS", None)
    result = subprocess.run(
        ["make", "--no-print-directory", *args, *(f"{k}={v}" for k, v in keys.items())],
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
    """A checkout of the tracked files, sharing this one's venv and its builds of KenLM and
    the decoder kernel (what `make dependencies` made)."""
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
    for built in ("kenlm", "ctc_kernel"):
        if (ROOT / "build" / built).exists():
            (copy / "build" / built).symlink_to(ROOT / "build" / built)
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
    from dstorch.inference.official import OfficialModel
    from dstorch.wav import read_wav

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
    # Not stripped: with the strict scorer a prefix such as "open " keeps its last space.
    out = [
        line
        for line in make(repo, "transcribe", f"AUDIO={clips}", **FAST).stdout.splitlines()
        if line
    ]
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


# --- configuration reaches dstorch only from the command line or DSTORCH_* ------------------


def config_lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_environment_cannot_hijack_configuration():
    """A desktop's LANGUAGE=en_US:en once made prepare look for original/en_US:en."""
    env = {"LANGUAGE": "en_US:en", "LANG": "C.UTF-8", "MAX_EPOCH": "99", "DSTORCH_N_HIDDEN": "32"}
    shown = config_lines(make(ROOT, "config", env=env, MAX_EPOCH="7"))
    assert shown["LANGUAGE"] == "en" and shown["MAX_EPOCH"] == "7" and shown["N_HIDDEN"] == "32"


def test_command_line_values_reach_sub_makes_unexpanded(tmp_path):
    """Recursion: a sub-make gets the same KEY=value through MAKEFLAGS; `$` stays text."""
    outer = f"outer:\n\t@$(MAKE) --no-print-directory -C {ROOT} config\n"
    (tmp_path / "Makefile").write_text(outer)
    shown = config_lines(make(tmp_path, "outer", MAX_EPOCH="5", HOLDOUT_SPEAKERS="a$b c"))
    assert shown["MAX_EPOCH"] == "5" and shown["HOLDOUT_SPEAKERS"] == "a$b c"


def test_bad_value_is_one_line_naming_key_value_and_range():
    result = make(ROOT, "config", check=False, TRAIN_BATCH_SIZE="0")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: TRAIN_BATCH_SIZE=0 is out of range; use an integer >= 1"]


def test_audio_is_never_pasted_into_a_shell_line(tmp_path):
    marker = tmp_path / "injected"
    audio = f'x"; touch {marker}; echo "'
    result = make(ROOT, "transcribe", check=False, AUDIO=audio)
    assert result.returncode != 0 and not marker.exists()
    assert "no model at" in result.stderr or "not found" in result.stderr


def test_overlapping_folders_are_refused_before_prepare(repo):
    before = sorted(p.name for p in (repo / "original" / "en").iterdir())
    for data_dir in ("original", "original/en", "."):
        result = make(repo, "prepare", check=False, DATA_DIR=data_dir)
        assert result.returncode == 2 and "overlap" in result.stderr, result.stderr
    (repo / "link").symlink_to(repo / "original")
    result = make(repo, "prepare", check=False, DATA_DIR="link/en/generated")
    assert "ORIGINAL_DIR=original and DATA_DIR=link/en/generated overlap" in result.stderr
    assert sorted(p.name for p in (repo / "original" / "en").iterdir()) == before


def test_clean_removes_the_configured_data_dir_only(repo):
    (repo / "generated").mkdir()
    (repo / "generated" / ".dstorch-data").write_text("")  # what prepare marks
    (repo / "generated" / "train.csv").write_text("x\n")
    (repo / "data").mkdir()  # not DATA_DIR here: the user's own folder
    (repo / "data" / "mine.txt").write_text("keep\n")
    (repo / "models").mkdir()
    (repo / "models" / "commands.pbmm").write_bytes(b"model")
    make(repo, "clean", RUNNER="local", DATA_DIR="generated")
    assert not (repo / "generated").exists()
    assert (repo / "data" / "mine.txt").exists() and (repo / "models" / "commands.pbmm").exists()
    # repo/.venv and repo/build/* are symlinks: rm -rf removes the links, not this venv.
    make(repo, "distclean", RUNNER="local", DATA_DIR="generated")
    assert not (repo / "models").exists() and (repo / "data" / "mine.txt").exists()
    assert (ROOT / ".venv" / "bin" / "python").exists()


def test_prepare_and_clean_leave_a_folder_of_yours_alone(repo, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("precious\n")
    result = make(repo, "prepare", check=False, RUNNER="local", DATA_DIR=str(victim))
    assert result.returncode == 2 and "already holds files dstorch did not write" in (result.stderr)
    result = make(repo, "clean", RUNNER="local", DATA_DIR=str(victim))
    assert f"kept DATA_DIR={victim}/" in result.stdout
    assert [p.name for p in victim.iterdir()] == ["thesis.tex"]
    for key, value in (("DATA_DIR", "scripts"), ("MODELS_DIR", "scripts")):
        result = make(repo, "clean", check=False, RUNNER="local", **{key: value})
        assert result.returncode == 2 and f"{key}=scripts holds the project's scripts" in (
            result.stderr
        )
    assert (repo / "scripts" / "bench_faults.py").is_file()
    assert "Traceback" not in result.stdout + result.stderr


def test_example_data_refuses_to_overwrite_your_files(repo):
    """Outside a checkout every existing file counts as yours; in one, changed or untracked."""
    commands = (repo / "commands.csv").read_text()
    (repo / "commands.csv").write_text(commands + "7,my own command\n")
    result = make(repo, "example-data", check=False)
    assert result.returncode == 2 and "FORCE=yes" in result.stderr
    assert (repo / "commands.csv").read_text().endswith("my own command\n")

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "commands.csv").write_text(commands)
    subprocess.run([*git, "add", "commands.csv", "original"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "example"], cwd=repo, check=True)
    mine = repo / "original" / "en" / "shapes_me_2_3_000000_1_001.wav"
    mine.write_bytes(b"RIFF")
    result = make(repo, "example-data", check=False)
    assert result.returncode == 2 and mine.name in result.stderr and mine.exists()
    mine.unlink()
    script = [str(ROOT / ".venv" / "bin" / "python"), "scripts/make_example_data.py"]
    subprocess.run([*script, "--voices", "1"], cwd=repo, check=True, capture_output=True)
    subprocess.run([*script, "--voices", "1"], cwd=repo, check=True, capture_output=True)


def test_dependencies_install_system_packages_before_anything_else():
    steps = make(ROOT, "-n", "dependencies", VENV="/nonexistent-venv").stdout.splitlines()
    assert "system_packages.sh" in steps[0]
    assert any("-m venv /nonexistent-venv" in step for step in steps[1:])


@pytest.mark.slow
def test_parallel_make_trains_only_after_prepare(repo):
    """`make -j all` once started the trainer while prepare was still converting audio."""
    fast = {**FAST, "MAX_EPOCH": "1", "N_HIDDEN": "16", "LM_TUNE_TRIALS": "0"}
    make(repo, "-j4", "all", **fast)
    make(repo, "log", **fast)
    assert make(repo, "status", **fast).stdout.startswith("finished (local), epoch 1/1")


def test_import_needs_corpus_and_source():
    result = make(ROOT, "import", check=False, CORPUS="ldc93s1")
    assert result.returncode != 0 and "give CORPUS=" in result.stdout + result.stderr


@pytest.mark.slow
def test_import_then_train_on_it_like_run_ldc93s1(repo, tmp_path):
    from importer_helpers import ldc93s1_tree

    ldc93s1_tree(tmp_path / "LDC93S1 sample")  # a space: SOURCE is quoted, never parsed
    make(repo, "import", CORPUS="ldc93s1", SOURCE=str(tmp_path / "LDC93S1 sample"))
    assert (repo / "imports" / "ldc93s1" / "ldc93s1.csv").is_file()
    keys = {"N_HIDDEN": "16", "MAX_EPOCH": "1", "AUGMENT": "", "EXPORT_ONNX": "yes"}
    make(repo, "train-import", CORPUS="ldc93s1", **keys)
    exported = {p.name for p in (repo / "imports" / "ldc93s1" / "model").iterdir()}
    assert {"ldc93s1.pbmm", "ldc93s1.onnx", "alphabet.txt"} <= exported


def test_every_make_command_a_message_advises_is_a_target():
    """`make run` on a finished run once advised `make reset`, which did not exist."""
    from dstorch.cli import build_parser

    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):.*## ", text, re.M))
    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    sources = "".join(p.read_text() for p in (ROOT / "dstorch").rglob("*.py"))
    advised = set(re.findall(r"\bmake ([a-z][a-z-]*)", sources)) & (verbs | targets)
    assert advised and advised <= targets, advised - targets
